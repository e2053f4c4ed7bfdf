//! Reading missive's `--json` report.

use serde_json::Value;

/// A JSON string, or a panic naming what was there instead.
#[track_caller]
pub fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// The recipient entry of a `--json` report whose address is `addr`; it
/// must be there exactly once.
#[track_caller]
pub fn recipient<'a>(report: &'a Value, addr: &str) -> &'a Value {
    let found: Vec<&Value> = report["recipients"]
        .as_array()
        .expect("recipients is an array")
        .iter()
        .filter(|r| r["address"] == addr)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{addr} is not once in the report: {report:#}"
    );
    found[0]
}
