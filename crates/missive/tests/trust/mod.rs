//! Trust on the wire (issue 13): DKIM signatures checked by an independent
//! verifier (dkimpy, Debian's python3-dkim), REQUIRETLS against scripted
//! servers that offer it and do not; DANE against a DNSSEC-signed
//! private root served by NSD.

mod dane;
mod dkim;
mod mta_sts;
mod requiretls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::*;

/// The verifier script, next to this file.
fn verifier() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trust/dkim_verify.py")
}

/// Signing keys made with `missive dkim keygen`, and the records to publish.
struct Keys {
    dir: TempDir,
    records: BTreeMap<String, String>,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            dir: TempDir::new("dkim"),
            records: BTreeMap::new(),
        }
    }

    /// `missive dkim keygen`: the key file (0600) and its record (from the
    /// zone line printed).
    fn keygen(&mut self, selector: &str, algorithm: &str) -> String {
        let path = self.dir.join(format!("{selector}.pem"));
        let out = Cmd::new([
            "dkim",
            "keygen",
            "--domain",
            "example.test",
            "--selector",
            selector,
        ])
        .args(["--algorithm", algorithm, "--out"])
        .arg(&path)
        .run();
        out.assert_code(0);
        assert_eq!(mode_of(&path) & 0o777, 0o600, "the key file's mode");
        let line = out.stdout.trim();
        assert!(
            line.starts_with(&format!("{selector}._domainkey.example.test. IN TXT (")),
            "{line}"
        );
        let record: String = line
            .split('"')
            .skip(1)
            .step_by(2)
            .collect::<Vec<_>>()
            .concat();
        self.records
            .insert(format!("{selector}._domainkey.example.test."), record);
        path.display().to_string()
    }

    /// Runs dkimpy on a delivered message: (exit code, one line per signature).
    fn verify(&self, message: &[u8]) -> (i32, String) {
        let msg = self.dir.write("verify.eml", message);
        let recs = self.dir.write(
            "records.json",
            serde_json::to_string(&self.records).unwrap().as_bytes(),
        );
        let out = Cmd::program(PYTHON)
            .arg(verifier())
            .args([&msg, &recs])
            .run();
        assert!(
            !out.stderr.contains("Traceback") && !out.stderr.contains("No module"),
            "the verifier did not run (testbed/install.sh installs python3-dkim): {}",
            out.stderr
        );
        (out.code, out.stdout)
    }

    /// Verifies, and asserts every signature passes: the lines.
    #[track_caller]
    fn assert_pass(&self, message: &[u8], signatures: usize) -> String {
        let (code, lines) = self.verify(message);
        assert_eq!(
            code,
            0,
            "dkimpy: {lines}\n{}",
            String::from_utf8_lossy(message)
        );
        assert_eq!(lines.lines().count(), signatures, "{lines}");
        lines
    }
}

/// `missive send` to the testbed's MX port (STARTTLS with its CA, no AUTH).
fn to_mx(tb: &Testbed, rcpt: &str) -> Cmd {
    Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--cafile",
        tb.ca(),
        "--from",
        "Sender <sender@example.test>",
        "--to",
        rcpt,
    ])
}
