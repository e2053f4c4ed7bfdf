//! The message template: header lines, a blank line, the text body, each
//! with `{{ column }}` placeholders rendered by minijinja (conditionals,
//! defaults, filters). The HTML part and attachment paths may be templates
//! too. Values in HTML are escaped; a value that would add a header line
//! (CR or LF) is an error for its row, never a new header.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::rows::Row;
use crate::error::{AppError, Result};

/// A row rendered: everything a message is made of.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered {
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: Option<String>,
    pub attach: Vec<String>,
    pub inline: Vec<String>,
}

/// The loaded templates.
pub(crate) struct Templates {
    env: Environment<'static>,
    /// Header names, in order, each with its template's name.
    headers: Vec<(String, String)>,
    html: bool,
    attach: usize,
    inline: usize,
    /// Every variable a template uses, with the templates that use it.
    uses: BTreeMap<String, BTreeSet<String>>,
    /// The template file, for messages.
    path: std::path::PathBuf,
}

/// What the template may not set: the envelope comes from the rows.
const NOT_IN_TEMPLATE: [&str; 3] = ["to", "cc", "bcc"];

impl Templates {
    /// Reads the template file (and the HTML file), and parses every template.
    pub fn load(
        template: &Path,
        html: Option<&Path>,
        attach: &[String],
        inline: &[String],
    ) -> Result<Templates> {
        let text = read(template, "--template")?;
        let (head, body) = split_head(&text);
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| match name.ends_with(".html") {
            true => AutoEscape::Html,
            false => AutoEscape::None,
        });
        let add = |env: &mut Environment<'static>, name: String, src: String| {
            env.add_template_owned(name.clone(), src)
                .map_err(|e| AppError::Data(format!("{}: {}", describe(&name, template), e)))
        };
        let mut headers = Vec::new();
        for (i, (field, value)) in parse_head(head, template)?.into_iter().enumerate() {
            if NOT_IN_TEMPLATE.contains(&field.to_ascii_lowercase().as_str()) {
                return Err(AppError::Data(format!(
                    "--template {}: {field} cannot be set by the template: each row's recipient (--to-column) is the To",
                    template.display()
                )));
            }
            let name = format!("header {i} {field}");
            add(&mut env, name.clone(), value)?;
            headers.push((field, name));
        }
        add(&mut env, "body.txt".into(), body.to_string())?;
        if let Some(h) = html {
            add(&mut env, "body.html".into(), read(h, "--html-file")?)?;
        }
        for (i, a) in attach.iter().enumerate() {
            add(&mut env, format!("attach {i}"), a.clone())?;
        }
        for (i, a) in inline.iter().enumerate() {
            add(&mut env, format!("inline {i}"), a.clone())?;
        }
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, t) in env.templates() {
            for v in t.undeclared_variables(false) {
                uses.entry(v).or_default().insert(describe(name, template));
            }
        }
        Ok(Templates {
            env,
            headers,
            html: html.is_some(),
            attach: attach.len(),
            inline: inline.len(),
            uses,
            path: template.to_path_buf(),
        })
    }

    /// Every placeholder must name a column (or be set in the template).
    pub fn check_columns(&self, columns: &[String], csv: &Path) -> Result<()> {
        for (var, places) in &self.uses {
            if !columns.contains(var) && !BUILTIN_NAMES.contains(&var.as_str()) {
                return Err(AppError::Data(format!(
                    "{} uses {{{{ {var} }}}} but {} has no column {var:?} (columns: {})",
                    places.iter().cloned().collect::<Vec<_>>().join(", "),
                    csv.display(),
                    columns.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Renders one row. Errors name the row and the column or template.
    pub fn render(&self, row: &Row) -> Result<Rendered> {
        let at = |what: &str, e: &dyn std::fmt::Display| {
            AppError::Data(format!("row {}: {what}: {e}", row.number))
        };
        // The row becomes a template value once, not once per template.
        let ctx = minijinja::Value::from(row.values.clone());
        let get = |name: &str| -> Result<String> {
            let fail = |e: minijinja::Error| at(&describe(name, &self.path), &e);
            let t = self.env.get_template(name).map_err(fail)?;
            t.render(&ctx).map_err(fail)
        };
        let mut out = Rendered::default();
        for (field, name) in &self.headers {
            let value = get(name)?;
            if value.contains(['\r', '\n']) {
                let culprit = row
                    .values
                    .iter()
                    .find(|(_, v)| v.contains(['\r', '\n']))
                    .map(|(c, _)| format!("the value of column {c:?}"))
                    .unwrap_or_else(|| "the rendered value".into());
                return Err(AppError::Data(format!(
                    "row {}: header {field}: {culprit} has a line break, which would add a header",
                    row.number
                )));
            }
            out.headers.push((field.clone(), value.trim().to_string()));
        }
        out.text = get("body.txt")?;
        if self.html {
            out.html = Some(get("body.html")?);
        }
        for i in 0..self.attach {
            out.attach.push(get(&format!("attach {i}"))?);
        }
        for i in 0..self.inline {
            out.inline.push(get(&format!("inline {i}"))?);
        }
        Ok(out)
    }
}

/// Names minijinja itself defines (loop variables and the like are declared, not free).
const BUILTIN_NAMES: [&str; 4] = ["range", "dict", "namespace", "debug"];

/// Where a template came from, for messages.
fn describe(name: &str, template: &Path) -> String {
    match name {
        "body.txt" => format!("the body of {}", template.display()),
        "body.html" => "the --html-file".into(),
        n if n.starts_with("header ") => format!(
            "the {} header of {}",
            n.splitn(3, ' ').nth(2).unwrap_or(""),
            template.display()
        ),
        n => format!("--{}", n.replace(' ', " #")),
    }
}

fn read(path: &Path, flag: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        AppError::Io(format!(
            "{flag} {}: {}",
            path.display(),
            crate::transport::net::short_io(&e)
        ))
    })?;
    String::from_utf8(bytes)
        .map_err(|_| AppError::Data(format!("{flag} {}: not UTF-8", path.display())))
}

/// The header lines and the body, split at the first empty line.
fn split_head(text: &str) -> (&str, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for sep in ["\r\n\r\n", "\n\n"] {
        if let Some(i) = text.find(sep) {
            let other = if sep == "\n\n" {
                text.find("\r\n\r\n")
            } else {
                None
            };
            if other.is_none_or(|j| j > i) {
                return (&text[..i], &text[i + sep.len()..]);
            }
        }
    }
    (text, "")
}

/// `Name: value` lines; a line that starts with white space continues the previous one.
fn parse_head(head: &str, path: &Path) -> Result<Vec<(String, String)>> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (i, line) in head.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            match fields.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                None => return Err(bad_head(path, i, line)),
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad_head(path, i, line));
        };
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(bad_head(path, i, line));
        }
        fields.push((name.to_string(), value.trim().to_string()));
    }
    Ok(fields)
}

fn bad_head(path: &Path, i: usize, line: &str) -> AppError {
    AppError::Data(format!(
        "--template {}:{}: {line:?} is not a header line 'Name: value' (the headers end at the first empty line)",
        path.display(),
        i + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_split_and_fold() {
        let (h, b) = split_head("Subject: a\r\n b\r\nX-A: 1\r\n\r\nbody\r\n");
        assert_eq!(b, "body\r\n");
        let f = parse_head(h, Path::new("t")).unwrap();
        assert_eq!(
            f,
            [("Subject".into(), "a b".into()), ("X-A".into(), "1".into())]
        );
        assert!(parse_head("no colon", Path::new("t")).is_err());
        assert_eq!(
            split_head("Subject: x\n\nhi\n\nthere"),
            ("Subject: x", "hi\n\nthere")
        );
    }
}
