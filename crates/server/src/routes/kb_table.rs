//! Knowledge bases as spreadsheets: export a version as CSV (opens in Excel
//! and WPS: UTF-8 with a byte-order mark) and import a CSV as the next
//! version. Columns: `id, category, question, similar, answer, links,
//! images`; several similar questions, links or images go in one cell
//! separated by `|` (a link is `title url`). An import is one new version:
//! any bad row refuses the whole file, every bad row listed by number.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use store::DocumentKind;

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

const COLUMNS: [&str; 7] = [
    "id", "category", "question", "similar", "answer", "links", "images",
];

/// Most rows one import may carry.
const MAX_ROWS: usize = 20_000;

fn joined(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(" | ")
}

fn split(cell: &str) -> Vec<String> {
    cell.split(['|', '｜'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `GET /api/v1/knowledge-bases/{name}/export`: the latest version as CSV.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewBots)?;
    let doc = state
        .store()
        .document(&caller.tenant_id, DocumentKind::KnowledgeBase, &name, None)
        .await?
        .ok_or_else(|| ApiError::not_found("知识库", "knowledge base"))?;
    let entries = dialog::kb::parse_kb(&doc.source, &doc.name)
        .map_err(|e| crate::bots::invalid_document(&e))?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = || ApiError::internal();
    out.write_record(COLUMNS).map_err(|_| failed())?;
    for e in &entries {
        out.write_record([
            e.id.clone(),
            e.category.clone().unwrap_or_default(),
            e.question.clone(),
            joined(e.similar.iter().cloned()),
            e.answer.clone(),
            joined(e.links.iter().map(|l| format!("{} {}", l.title, l.url))),
            joined(e.images.iter().cloned()),
        ])
        .map_err(|_| failed())?;
    }
    let mut body = "\u{feff}".as_bytes().to_vec();
    body.extend(out.into_inner().map_err(|_| failed())?);
    let file = format!("attachment; filename=\"{}-v{}.csv\"", doc.name, doc.version);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, file),
        ],
        body,
    ))
}

/// Reads a CSV into entries; every problem as "row N: what".
pub fn entries_from_csv(data: &[u8]) -> Result<Vec<nlu::FaqEntry>, Vec<String>> {
    let data = data.strip_prefix("\u{feff}".as_bytes()).unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(data);
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for (i, record) in reader.records().enumerate() {
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_string).collect()),
            Err(e) if i == 0 => {
                return Err(vec![format!(
                    "第 1 行（表头）无法读取 header unreadable: {e}"
                )]);
            }
            Err(e) => {
                let row = i + 1;
                unreadable.push(format!("第 {row} 行无法读取 row {row} unreadable: {e}"));
                rows.push(Vec::new());
            }
        }
    }
    match entries_from_rows(rows) {
        Ok(entries) if unreadable.is_empty() => Ok(entries),
        Ok(_) => Err(unreadable),
        Err(mut problems) => {
            unreadable.append(&mut problems);
            Err(unreadable)
        }
    }
}

/// Reads the first worksheet of an Excel workbook (.xlsx as Excel and WPS
/// save it) into entries, with the same columns and checks as a CSV.
pub fn entries_from_xlsx(data: &[u8]) -> Result<Vec<nlu::FaqEntry>, Vec<String>> {
    let rows = campaign::import::xlsx_rows(data).map_err(|e| vec![format!("{} {}", e.zh, e.en)])?;
    entries_from_rows(rows)
}

/// Entries from a table's rows, the first being the header; every problem
/// as "row N: what" (N counts from 1, as the spreadsheet shows it).
fn entries_from_rows(rows: Vec<Vec<String>>) -> Result<Vec<nlu::FaqEntry>, Vec<String>> {
    // The header is the first row with anything in it (a sheet may start lower).
    let Some(header_at) = rows
        .iter()
        .position(|r| r.iter().any(|c| !c.trim().is_empty()))
    else {
        return Err(vec!["没有任何条目 no entries".into()]);
    };
    let mut rows = rows.into_iter().skip(header_at);
    let headers: Vec<String> = rows
        .next()
        .unwrap_or_default()
        .iter()
        .map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(id), Some(question), Some(answer)) = (col("id"), col("question"), col("answer"))
    else {
        return Err(vec![
            "表头须包含 id、question、answer 列 the header needs id, question and answer columns"
                .into(),
        ]);
    };
    let (category, similar, links, images) =
        (col("category"), col("similar"), col("links"), col("images"));
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in rows.enumerate() {
        let row = header_at + i + 2;
        if row > MAX_ROWS + 1 {
            problems.push(format!("最多 {MAX_ROWS} 行 at most {MAX_ROWS} rows"));
            break;
        }
        let cell = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let mut entry_links = Vec::new();
        for link in split(&cell(links)) {
            match link.rsplit_once(char::is_whitespace) {
                Some((title, url)) if !title.trim().is_empty() => entry_links.push(nlu::FaqLink {
                    title: title.trim().to_string(),
                    url: url.to_string(),
                }),
                _ => problems.push(format!(
                    "第 {row} 行：链接应写作「标题 网址」 row {row}: a link is `title url`: {link}"
                )),
            }
        }
        entries.push(nlu::FaqEntry {
            id: cell(Some(id)),
            question: cell(Some(question)),
            similar: split(&cell(similar)),
            answer: cell(Some(answer)),
            category: Some(cell(category)).filter(|c| !c.is_empty()),
            links: entry_links,
            images: split(&cell(images)),
        });
        // Row-level checks with the row number; the whole file is checked again on upload.
        let last = entries
            .last()
            .map(|e| (e.id.clone(), e.question.is_empty() || e.answer.is_empty()));
        if let Some((entry_id, missing)) = last {
            if entry_id.is_empty() || missing {
                problems.push(format!(
                    "第 {row} 行缺少 id、question 或 answer row {row} lacks id, question or answer"
                ));
            } else if entries[..entries.len() - 1]
                .iter()
                .any(|e| e.id == entry_id)
            {
                problems.push(format!(
                    "第 {row} 行：重复的 id row {row}: duplicate id `{entry_id}`"
                ));
            }
        }
    }
    if entries.is_empty() && problems.is_empty() {
        problems.push("没有任何条目 no entries".into());
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportTable {
    /// The CSV file's text.
    #[serde(default)]
    pub csv: Option<String>,
    /// Or an Excel workbook (.xlsx), base64: its first worksheet.
    #[serde(default)]
    pub xlsx_base64: Option<String>,
}

/// `POST /api/v1/knowledge-bases/{name}/import` `{"csv": "..."}`: the next
/// version of the knowledge base, checked like any upload.
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<ImportTable>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageBots)?;
    let parsed = match (req.csv, req.xlsx_base64) {
        (Some(csv), None) => entries_from_csv(csv.as_bytes()),
        (None, Some(b64)) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| {
                    ApiError::bad_request(
                        "xlsx_base64 不是有效的 base64",
                        "xlsx_base64 is not valid base64",
                    )
                })?;
            crate::routes::blocking(move || entries_from_xlsx(&bytes)).await?
        }
        _ => {
            return Err(ApiError::bad_request(
                "请提供 csv 或 xlsx_base64 之一",
                "give exactly one of csv and xlsx_base64",
            ));
        }
    };
    let entries = parsed.map_err(|problems| {
        let mut e = ApiError::bad_request(
            format!(
                "表格有 {} 处问题，未导入：{}",
                problems.len(),
                problems.join("；")
            ),
            format!(
                "the table has {} problem(s); nothing imported",
                problems.len()
            ),
        );
        e.details = Some(Box::new(json!(problems)));
        e
    })?;
    let source = serde_yaml_ng::to_string(&json!({ "name": name, "entries": entries }))
        .map_err(|_| ApiError::internal())?;
    let header = "# 由表格导入 imported from a table (tonghua knowledge-bases import)\n";
    let (status, body) = crate::routes::documents::put(
        &state,
        &caller,
        DocumentKind::KnowledgeBase,
        &name,
        &format!("{header}{source}"),
    )
    .await?;
    Ok((status, Json(body)))
}
