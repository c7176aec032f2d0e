//! Importing contacts from a real Excel file and from CSV into the store:
//! bad rows are reported by row number and skipped, and importing the same
//! file again changes nothing.

use campaign::import::{self, Format, Mapping};
use store::{ImportCounts, Store};

const XLSX: &[u8] = include_bytes!("fixtures/contacts.xlsx");

fn mapping() -> Mapping {
    Mapping {
        columns: [("小区", "community"), ("产品", "product")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        ..Mapping::default()
    }
}

#[test]
fn an_excel_file_with_numeric_phone_cells() {
    let parsed = import::parse(XLSX, Format::Xlsx, &mapping()).expect("parse");
    let numbers: Vec<&str> = parsed.contacts.iter().map(|c| c.number.as_str()).collect();
    assert_eq!(numbers, ["+8613800138000", "+861012345678"]);
    assert_eq!(parsed.contacts[0].variables["community"], "翠湖苑");
    assert_eq!(parsed.contacts[1].name.as_deref(), Some("王五"));
    let rows: Vec<usize> = parsed.rejected.iter().map(|r| r.row).collect();
    assert_eq!(rows, [3, 5]);
    assert!(parsed.rejected[1].reason_en.contains("row 2"));
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path()).await.expect("store");
    let t = store
        .create_tenant("acme", "Acme", 0)
        .await
        .expect("tenant");
    let list = store
        .ensure_contact_list(&t.id, "小区业主", 1)
        .await
        .expect("list");
    let parsed = import::parse(XLSX, Format::Xlsx, &mapping()).expect("parse");
    let first = store
        .import_contacts(&t.id, &list.id, &parsed.contacts, 2)
        .await
        .expect("import");
    assert_eq!(
        first,
        ImportCounts {
            inserted: 2,
            updated: 0,
            unchanged: 0
        }
    );
    let before = store
        .contacts(&t.id, &list.id, None, 100)
        .await
        .expect("contacts");
    let again = store
        .import_contacts(&t.id, &list.id, &parsed.contacts, 3)
        .await
        .expect("import");
    assert_eq!(
        again,
        ImportCounts {
            inserted: 0,
            updated: 0,
            unchanged: 2
        }
    );
    let after = store
        .contacts(&t.id, &list.id, None, 100)
        .await
        .expect("contacts");
    assert_eq!(
        serde_json::to_value(&before).expect("json"),
        serde_json::to_value(&after).expect("json"),
        "not even updated_at moved"
    );
    // A CSV of the same people with one changed field updates that one only.
    let csv = "姓名,手机号,小区,产品\n张三,13800138000,翠湖苑,电视\n王五,010-12345678,,宽带\n";
    let parsed = import::parse(csv.as_bytes(), Format::Csv, &mapping()).expect("csv");
    let third = store
        .import_contacts(&t.id, &list.id, &parsed.contacts, 4)
        .await
        .expect("import");
    assert_eq!(
        third,
        ImportCounts {
            inserted: 0,
            updated: 1,
            unchanged: 1
        }
    );
    let lists = store.contact_lists(&t.id).await.expect("lists");
    assert_eq!((lists[0].name.as_str(), lists[0].contacts), ("小区业主", 2));
    // Another tenant sees none of it.
    let other = store.create_tenant("other", "Other", 0).await.expect("t");
    assert!(
        store
            .contact_list(&other.id, &list.id)
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        store
            .contacts(&other.id, &list.id, None, 10)
            .await
            .expect("q")
            .is_empty()
    );
}
