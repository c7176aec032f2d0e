//! Contacts from CSV and Excel files: a header row, then one contact per row.
//!
//! The number column is found by its header (手机号, 电话, phone, …) unless the
//! mapping names it; the name likewise. Mapped columns become the script
//! variables the mapping names (`小区` → `community`); the other columns are
//! kept as free custom fields under their header. A row whose number cannot
//! be normalised is reported by its row number (as the spreadsheet shows it:
//! the header is row 1) with the reason, and skipped; the rest are imported.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;

use calamine::{Data, Reader};
use serde::{Deserialize, Serialize};
use store::NewContact;

use crate::settings::parse_utc_offset;

/// How the file's columns become contact fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Header of the number column (default: found by its header).
    #[serde(default)]
    pub number: Option<String>,
    /// Header of the name column (default: 姓名/name when present).
    #[serde(default)]
    pub name: Option<String>,
    /// Header of a UTC offset column (`+08:00`); default: from the number.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Column header → script variable (`{"小区": "community"}`).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Keep the columns not mapped as custom fields (default true).
    #[serde(default)]
    pub drop_unmapped: bool,
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// As the spreadsheet shows it: the header is row 1.
    pub row: usize,
    pub value: String,
    pub reason: String,
    pub reason_en: String,
}

/// A parsed file: what can be imported and what was refused.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub contacts: Vec<NewContact>,
    pub rejected: Vec<RowError>,
}

/// Why a whole file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{en}")]
pub struct FileError {
    pub zh: String,
    pub en: String,
}

fn file_err(zh: impl Into<String>, en: impl Into<String>) -> FileError {
    FileError {
        zh: zh.into(),
        en: en.into(),
    }
}

const NUMBER_HEADERS: &[&str] = &[
    "手机号",
    "手机号码",
    "手机",
    "电话",
    "电话号码",
    "号码",
    "联系电话",
    "phone",
    "mobile",
    "number",
    "tel",
    "telephone",
    "phone_number",
];
const NAME_HEADERS: &[&str] = &["姓名", "名字", "客户姓名", "客户名称", "name", "customer"];

/// At most this many rows per file, so one upload cannot exhaust memory.
pub const MAX_ROWS: usize = 1_000_000;

/// The file's kind, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") || lower.ends_with(".txt") {
            Some(Format::Csv)
        } else if lower.ends_with(".xlsx") || lower.ends_with(".xlsm") || lower.ends_with(".xls") {
            Some(Format::Xlsx)
        } else {
            None
        }
    }
}

pub fn parse(bytes: &[u8], format: Format, mapping: &Mapping) -> Result<Parsed, FileError> {
    match format {
        Format::Csv => parse_csv(bytes, mapping),
        Format::Xlsx => parse_xlsx(bytes, mapping),
    }
}

/// A CSV file (UTF-8, with or without BOM; GBK is refused with a hint).
pub fn parse_csv(bytes: &[u8], mapping: &Mapping) -> Result<Parsed, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err(file_err(
            "文件不是 UTF-8 编码；请在 Excel 中另存为“CSV UTF-8”或直接上传 .xlsx",
            "the file is not UTF-8; save it as \"CSV UTF-8\" or upload the .xlsx",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if i > MAX_ROWS {
            return Err(too_many());
        }
        let record = record.map_err(|e| {
            file_err(
                format!("第 {} 行无法读取：{e}", i + 1),
                format!("row {}: {e}", i + 1),
            )
        })?;
        rows.push(record.iter().map(str::to_string).collect::<Vec<_>>());
    }
    from_rows(rows, mapping)
}

fn too_many() -> FileError {
    file_err(
        format!("一个文件最多 {MAX_ROWS} 行"),
        format!("a file may have at most {MAX_ROWS} rows"),
    )
}

/// An .xlsx may unpack to at most this much: a few MiB of zip must not
/// become gigabytes in memory.
pub const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;

/// Refuses an .xlsx (a zip) whose parts declare more than `limit` bytes
/// unpacked: zip bombs as they are usually built. A file whose headers lie
/// about its sizes is not caught here (calamine then fails on the XML or the
/// row limit, after unpacking).
fn check_unpacked_size(bytes: &[u8], limit: u64) -> Result<(), FileError> {
    if !bytes.starts_with(b"PK") {
        return Ok(()); // .xls (a compound file), checked by calamine
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        file_err(
            format!("无法读取 Excel 文件：{e}"),
            format!("cannot read the Excel file: {e}"),
        )
    })?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let size = archive.by_index_raw(i).map(|f| f.size()).map_err(|e| {
            file_err(
                format!("无法读取 Excel 文件：{e}"),
                format!("cannot read the Excel file: {e}"),
            )
        })?;
        total = total.saturating_add(size);
    }
    if total > limit {
        return Err(file_err(
            format!("Excel 文件解压后超过 {} MiB，请拆分后导入", limit >> 20),
            format!(
                "the workbook unpacks to more than {} MiB; split it",
                limit >> 20
            ),
        ));
    }
    Ok(())
}

/// The first worksheet of an Excel workbook (.xlsx, .xls).
pub fn parse_xlsx(bytes: &[u8], mapping: &Mapping) -> Result<Parsed, FileError> {
    from_rows(xlsx_rows(bytes)?, mapping)
}

/// The first worksheet of an Excel workbook as rows of cell texts (numbers
/// without a fraction as integers; rows above the used range kept empty so
/// row numbers match the sheet). Refuses zip bombs and sheets of more than
/// the row limit.
pub fn xlsx_rows(bytes: &[u8]) -> Result<Vec<Vec<String>>, FileError> {
    check_unpacked_size(bytes, MAX_UNPACKED_BYTES)?;
    let mut workbook =
        calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|e| {
            file_err(
                format!("无法读取 Excel 文件：{e}"),
                format!("cannot read the Excel file: {e}"),
            )
        })?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| file_err("Excel 文件没有工作表", "the workbook has no sheet"))?;
    let range = workbook.worksheet_range(&sheet).map_err(|e| {
        file_err(
            format!("无法读取工作表 {sheet}：{e}"),
            format!("cannot read sheet {sheet}: {e}"),
        )
    })?;
    if range.height() > MAX_ROWS + 1 {
        return Err(too_many());
    }
    // Rows before the range's start (empty at the top) keep their numbers.
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let mut rows = vec![Vec::new(); first_row];
    rows.extend(range.rows().map(|r| r.iter().map(cell_text).collect()));
    Ok(rows)
}

/// A cell as text; numbers without a fraction as integers (Excel stores
/// 13800138000 as a float).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{}", *f as i64),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn find(
    headers: &[String],
    wanted: &Option<String>,
    guesses: &[&str],
) -> Result<Option<usize>, FileError> {
    match wanted {
        Some(h) => headers
            .iter()
            .position(|x| x == h)
            .map(Some)
            .ok_or_else(|| {
                file_err(
                    format!("文件中没有列“{h}”"),
                    format!("the file has no column \"{h}\""),
                )
            }),
        None => Ok(headers
            .iter()
            .position(|x| guesses.iter().any(|g| x.eq_ignore_ascii_case(g)))),
    }
}

fn from_rows(rows: Vec<Vec<String>>, mapping: &Mapping) -> Result<Parsed, FileError> {
    let Some(header_index) = rows
        .iter()
        .position(|r| r.iter().any(|c| !c.trim().is_empty()))
    else {
        return Err(file_err("文件是空的", "the file is empty"));
    };
    let headers: Vec<String> = rows[header_index]
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let number_col = find(&headers, &mapping.number, NUMBER_HEADERS)?.ok_or_else(|| {
        file_err(
            format!("找不到号码列（表头应为 手机号/电话/phone 之一，或在映射中指定）；表头：{}", headers.join("、")),
            format!("no phone number column (a header like 手机号/电话/phone, or name it in the mapping); headers: {}", headers.join(", ")),
        )
    })?;
    let name_col = find(&headers, &mapping.name, NAME_HEADERS)?;
    let tz_col = find(&headers, &mapping.timezone, &[])?;
    for h in mapping.columns.keys() {
        if !headers.contains(h) {
            return Err(file_err(
                format!("文件中没有列“{h}”"),
                format!("the file has no column \"{h}\""),
            ));
        }
    }
    let mut parsed = Parsed::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate().skip(header_index + 1) {
        let row_no = i + 1;
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |c: usize| row.get(c).map(|s| s.trim()).unwrap_or("");
        let raw = cell(number_col);
        let number = match phone::normalize(raw) {
            Ok(n) => n,
            Err(e) => {
                parsed.rejected.push(RowError {
                    row: row_no,
                    value: raw.to_string(),
                    reason: e.zh(),
                    reason_en: e.to_string(),
                });
                continue;
            }
        };
        if let Some(first) = seen.get(&number) {
            parsed.rejected.push(RowError {
                row: row_no,
                value: raw.to_string(),
                reason: format!("与第 {first} 行号码重复"),
                reason_en: format!("same number as row {first}"),
            });
            continue;
        }
        let utc_offset = match tz_col {
            Some(c) if !cell(c).is_empty() => match parse_utc_offset(cell(c)) {
                Some(o) => Some(o),
                None => {
                    parsed.rejected.push(RowError {
                        row: row_no,
                        value: cell(c).to_string(),
                        reason: "时区应写成 +08:00".into(),
                        reason_en: "time zone is not a UTC offset like +08:00".into(),
                    });
                    continue;
                }
            },
            _ => phone::utc_offset_minutes(&number),
        };
        seen.insert(number.clone(), row_no);
        let mut variables = BTreeMap::new();
        for (c, header) in headers.iter().enumerate() {
            if c == number_col || Some(c) == name_col || Some(c) == tz_col || header.is_empty() {
                continue;
            }
            let key = match mapping.columns.get(header) {
                Some(var) => var.clone(),
                None if mapping.drop_unmapped => continue,
                None => header.clone(),
            };
            let value = cell(c);
            if !value.is_empty() {
                variables.insert(key, value.to_string());
            }
        }
        let name = name_col
            .map(cell)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if let Some(n) = &name {
            variables.entry("name".into()).or_insert_with(|| n.clone());
        }
        parsed.contacts.push(NewContact {
            number,
            name,
            variables,
            utc_offset,
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_mapped_and_bad_ones_reported_by_row() {
        let csv = "姓名,手机号,小区,产品,备注\n\
                   张三,138 0013 8000,翠湖苑,宽带,老客户\n\
                   李四,12345,翠湖苑,宽带,\n\
                   王五,010-12345678,,电视,\n\
                   ,,,,\n\
                   赵六,13800138000,重复,宽带,\n\
                   钱七,+1 415 555 0100,,宽带,\n";
        let mapping = Mapping {
            columns: [
                ("小区".to_string(), "community".to_string()),
                ("产品".to_string(), "product".to_string()),
            ]
            .into_iter()
            .collect(),
            ..Mapping::default()
        };
        let p = parse_csv(csv.as_bytes(), &mapping).expect("parse");
        let numbers: Vec<&str> = p.contacts.iter().map(|c| c.number.as_str()).collect();
        assert_eq!(numbers, ["+8613800138000", "+861012345678", "+14155550100"]);
        assert_eq!(p.contacts[0].name.as_deref(), Some("张三"));
        assert_eq!(p.contacts[0].variables["community"], "翠湖苑");
        assert_eq!(p.contacts[0].variables["product"], "宽带");
        assert_eq!(p.contacts[0].variables["备注"], "老客户");
        assert_eq!(p.contacts[0].variables["name"], "张三");
        assert_eq!(p.contacts[0].utc_offset, Some(480));
        assert_eq!(p.contacts[2].utc_offset, None);
        assert_eq!(p.rejected.len(), 2);
        assert_eq!(
            (p.rejected[0].row, p.rejected[0].value.as_str()),
            (3, "12345")
        );
        assert!(
            p.rejected[0].reason_en.contains("5 digits"),
            "{:?}",
            p.rejected[0]
        );
        assert_eq!(p.rejected[1].row, 6);
        assert!(p.rejected[1].reason_en.contains("row 2"));
    }

    #[test]
    fn whole_file_problems_are_one_clear_error() {
        let none = parse_csv(b"a,b\n1,2\n", &Mapping::default()).expect_err("no number column");
        assert!(none.en.contains("no phone number column"), "{none}");
        let gbk = parse_csv(b"\xd0\xd5\xc3\xfb,phone\n", &Mapping::default()).expect_err("gbk");
        assert!(gbk.en.contains("UTF-8"));
        let empty = parse_csv(b"\n\n", &Mapping::default()).expect_err("empty");
        assert!(empty.en.contains("empty"));
        let missing = Mapping {
            columns: [("小区".to_string(), "community".to_string())]
                .into_iter()
                .collect(),
            ..Mapping::default()
        };
        assert!(parse_csv(b"phone\n13800138000\n", &missing).is_err());
        assert!(parse_xlsx(b"not a zip", &Mapping::default()).is_err());
        assert!(parse_xlsx(b"PK\x03\x04 truncated", &Mapping::default()).is_err());
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_unpacked() {
        // One part of 3 MiB of zeros, a few KiB packed; the limit here is 2 MiB.
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("xl/worksheets/sheet1.xml", options)
                .expect("start");
            std::io::Write::write_all(&mut w, &vec![0u8; 3 << 20]).expect("write");
            w.finish().expect("finish");
        }
        let bytes = buf.into_inner();
        assert!(bytes.len() < 64 << 10, "{} bytes packed", bytes.len());
        let e = check_unpacked_size(&bytes, 2 << 20).expect_err("bomb");
        assert!(e.en.contains("unpacks to more than 2 MiB"), "{e}");
        assert!(check_unpacked_size(&bytes, 4 << 20).is_ok());
    }

    #[test]
    fn a_named_number_column_and_time_zones() {
        let csv = "who,line,tz\nA,13800138000,+09:00\nB,13900139000,bad\n";
        let mapping = Mapping {
            number: Some("line".into()),
            name: Some("who".into()),
            timezone: Some("tz".into()),
            ..Mapping::default()
        };
        let p = parse_csv(csv.as_bytes(), &mapping).expect("parse");
        assert_eq!(p.contacts.len(), 1);
        assert_eq!(p.contacts[0].utc_offset, Some(540));
        assert_eq!(p.rejected[0].row, 3);
    }
}
