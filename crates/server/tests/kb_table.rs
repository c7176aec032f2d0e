//! Knowledge bases as spreadsheets: export a version as CSV, edit, import
//! it as the next version; a bad table is refused whole, row by row.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

const RICH_KB: &str = "name: 带链接的知识库
entries:
  - id: track
    category: 物流
    question: 怎么查物流？
    similar: [快递到哪了, 物流怎么查]
    answer: 在“我的订单”里查看物流。
    links:
      - {title: 我的订单, url: \"https://shop.example.com/orders\"}
    images: [\"https://shop.example.com/track.png\"]
  - id: refund
    question: 怎么退款？
    answer: 在订单详情页申请退款，一到三个工作日到账。
";

#[tokio::test]
async fn a_knowledge_base_goes_out_as_csv_and_comes_back_unchanged() {
    let app = TestApp::start().await;
    let (boss, tenant) = app.shop("mini", MINI_SCRIPT).await;
    let (s, b) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/knowledge-bases/rich",
        Some(&json!({ "source": RICH_KB })),
    )
    .await;
    assert!(s.is_success(), "{b}");
    let r = boss
        .get(app.url("/api/v1/knowledge-bases/rich/export"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let bytes = r.bytes().await.expect("body");
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "a BOM, for Excel");
    let csv = String::from_utf8(bytes.to_vec()).expect("utf-8");
    assert!(csv.contains("快递到哪了 | 物流怎么查"), "{csv}");
    assert!(
        csv.contains("我的订单 https://shop.example.com/orders"),
        "{csv}"
    );

    // Edited in a spreadsheet (a similar question added), imported back.
    let edited = csv.replace(
        "快递到哪了 | 物流怎么查",
        "快递到哪了 | 物流怎么查 | 包裹在哪",
    );
    let (s, b) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/knowledge-bases/rich/import",
        Some(&json!({ "csv": edited })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["document"]["version"], 2);
    let latest = app
        .store
        .document(&tenant, store::DocumentKind::KnowledgeBase, "rich", None)
        .await
        .expect("read")
        .expect("doc");
    let before = dialog::kb::parse_kb(RICH_KB, "v1").expect("v1");
    let after = dialog::kb::parse_kb(&latest.source, "v2").expect("v2");
    assert_eq!(after.len(), before.len());
    assert_eq!(
        after[0].similar,
        vec!["快递到哪了", "物流怎么查", "包裹在哪"]
    );
    assert_eq!(
        (&after[0].links, &after[0].images, &after[0].category),
        (&before[0].links, &before[0].images, &before[0].category)
    );
    assert_eq!(after[1], before[1]);
}

#[tokio::test]
async fn a_bad_table_is_refused_whole_with_every_bad_row_named() {
    let app = TestApp::start().await;
    let (boss, tenant) = app.shop("mini", MINI_SCRIPT).await;
    let bad = "id,question,answer,links\n\
               ok1,怎么退款？,申请即可,\n\
               ,没有编号的问题,答案,\n\
               ok1,重复编号,答案,\n\
               ok2,有坏链接,答案,只有标题\n\
               ok3,不安全的链接,答案,点我 javascript:alert(1)\n";
    let (s, b) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/knowledge-bases/mini-kb/import",
        Some(&json!({ "csv": bad })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let rows = b["error"]["details"].as_array().expect("details");
    let text = b["error"]["details"].to_string();
    for row in ["第 3 行", "第 4 行", "第 5 行"] {
        assert!(text.contains(row), "{row} in {text}");
    }
    assert_eq!(rows.len(), 3, "{text}");
    // The unsafe address is caught by the upload check (nothing stored either).
    let unsafe_only = "id,question,answer,links\nok3,不安全的链接,答案,点我 javascript:alert(1)\n";
    let (s, b) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/knowledge-bases/mini-kb/import",
        Some(&json!({ "csv": unsafe_only })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let versions = app
        .store
        .document_versions(&tenant, store::DocumentKind::KnowledgeBase, Some("mini-kb"))
        .await
        .expect("versions");
    assert_eq!(versions.len(), 1, "nothing stored");
    let (s, _) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/knowledge-bases/mini-kb/import",
        Some(&json!({ "csv": "foo,bar\n1,2\n" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// An Excel workbook as operators keep their FAQ: the header may start
/// lower, ids may be numbers, `|` separates similar questions. A bad sheet
/// is refused whole, its rows named as the sheet numbers them.
#[tokio::test]
async fn a_knowledge_base_comes_in_from_an_excel_workbook() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let app = TestApp::start().await;
    let (boss, tenant) = app.shop("mini", MINI_SCRIPT).await;
    let path = "/api/v1/knowledge-bases/from-excel/import";
    let good = include_bytes!("fixtures/kb.xlsx");
    let (s, b) = call(
        &boss,
        &app,
        "POST",
        path,
        Some(&json!({ "xlsx_base64": b64(good) })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let doc = app
        .store
        .document(
            &tenant,
            store::DocumentKind::KnowledgeBase,
            "from-excel",
            None,
        )
        .await
        .expect("db")
        .expect("stored");
    let entries = dialog::kb::parse_kb(&doc.source, &doc.name).expect("valid");
    assert_eq!(entries.len(), 2, "{}", doc.source);
    assert_eq!(entries[0].similar, vec!["发票怎么开", "能开专票吗"]);
    assert_eq!(entries[1].id, "1001", "a numeric id is its digits");
    assert_eq!(entries[1].category.as_deref(), Some("物流"));

    let bad = include_bytes!("fixtures/kb-bad.xlsx");
    let (s, b) = call(
        &boss,
        &app,
        "POST",
        path,
        Some(&json!({ "xlsx_base64": b64(bad) })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let text = b["error"]["details"].to_string();
    assert!(
        text.contains("第 3 行") && text.contains("第 4 行"),
        "{text}"
    );
    assert!(!text.contains("第 2 行"), "{text}");
    for (body, named) in [
        (json!({ "xlsx_base64": "不是base64" }), "base64"),
        (
            json!({ "xlsx_base64": b64(b"PK\x03\x04 not a workbook") }),
            "Excel",
        ),
        (json!({}), "csv"),
        (
            json!({ "csv": "id,question,answer\n", "xlsx_base64": b64(good) }),
            "csv",
        ),
    ] {
        let (s, b) = call(&boss, &app, "POST", path, Some(&body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert!(b.to_string().contains(named), "{named}: {b}");
    }
    let versions = app
        .store
        .document_versions(
            &tenant,
            store::DocumentKind::KnowledgeBase,
            Some("from-excel"),
        )
        .await
        .expect("versions");
    assert_eq!(versions.len(), 1, "nothing stored by the refused ones");
}
