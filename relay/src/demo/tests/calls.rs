//! Every Inventory method, called directly on the demo backend.

use loom_shared::rpc::{self, BadRequest, ErrorInfo};
use prost::{Message as _, Name as _};
use tonic::metadata::MetadataMap;
use tonic::{Code, Request};

use super::{client, start_backend};
use crate::demo::backend::{
    ELAPSED_TRAILER, REQUEST_ID_HEADER, SERVER_HEADER, TRACE_HEADER, TRACE_PREFIX,
};
use crate::demo::catalog::{self, ITEM_COUNT};
use crate::demo::pb::{self, item::Availability};
use crate::demo::validate::{ERROR_DOMAIN, INVALID_ITEM};

pub(super) fn with_id<T>(message: T, id: &'static str) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut()
        .insert(REQUEST_ID_HEADER, id.parse().expect("ascii"));
    req
}

/// The demo headers, the echoed request id and (where trailers are merged
/// in) the elapsed trailer.
pub(super) fn assert_demo_headers(md: &MetadataMap, request_id: &str) {
    assert_eq!(md.get(SERVER_HEADER).unwrap(), "loom");
    assert_eq!(md.get(REQUEST_ID_HEADER).unwrap(), request_id);
    let trace = md.get_bin(TRACE_HEADER).unwrap().to_bytes().unwrap();
    assert_eq!(trace.len(), 16);
    assert_eq!(trace[..8], TRACE_PREFIX);
}

pub(super) fn elapsed_ms(md: &MetadataMap) -> u64 {
    md.get(ELAPSED_TRAILER)
        .expect("elapsed trailer")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_item_returns_the_catalog_entry_with_demo_metadata() {
    let backend = start_backend().await;
    for gzip in [false, true] {
        let mut c = client(backend.addr, gzip).await;
        let req = with_id(pb::GetItemRequest { id: "sku-1".into() }, "req-1");
        let res = c.get_item(req).await.expect("GetItem");
        assert_demo_headers(res.metadata(), "req-1");
        elapsed_ms(res.metadata());
        let item = res.into_inner();
        assert_eq!(item, catalog::item("sku-1").unwrap(), "gzip={gzip}");
        assert_eq!(item.display_name, "Claw hammer");
        assert_eq!(item.category(), pb::Category::Tools);
        let price = item.price.as_ref().unwrap();
        assert_eq!(
            (price.currency_code.as_str(), price.units, price.nanos),
            ("EUR", 19, 990_000_000)
        );
        assert!(
            matches!(item.availability, Some(Availability::InStock(ref s)) if s.quantity == 59)
        );
        let warranty: pb::Warranty = item.extensions[0].to_msg().expect("a packed Warranty");
        assert_eq!(warranty.months, 60);
        assert_eq!(item.extensions[0].type_url, pb::Warranty::type_url());
        assert_eq!(item.specs.as_ref().unwrap().fields.len(), 6);
        assert_eq!(item.updated_at.unwrap().seconds, 1_714_555_800 + 86_400);
    }
    let mut c = client(backend.addr, false).await;
    for n in 1..=ITEM_COUNT {
        let id = format!("sku-{n}");
        let item = c
            .get_item(pb::GetItemRequest { id: id.clone() })
            .await
            .unwrap();
        assert_eq!(item.into_inner().id, id);
    }
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_item_of_an_unknown_id_is_not_found_with_demo_metadata() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, false).await;
    let req = with_id(
        pb::GetItemRequest {
            id: "sku-99".into(),
        },
        "req-404",
    );
    let status = c.get_item(req).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("sku-99"), "{}", status.message());
    assert_demo_headers(status.metadata(), "req-404");
    elapsed_ms(status.metadata());
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_items_streams_the_catalog_in_order_with_trailers() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, true).await;
    let req = pb::ListItemsRequest {
        include_discontinued: true,
        ..Default::default()
    };
    let res = c.list_items(with_id(req, "req-list")).await.unwrap();
    assert_demo_headers(res.metadata(), "req-list");
    let mut stream = res.into_inner();
    let mut ids = Vec::new();
    while let Some(item) = stream.message().await.unwrap() {
        ids.push(item.id);
    }
    let want: Vec<String> = (1..=ITEM_COUNT).map(|n| format!("sku-{n}")).collect();
    assert_eq!(ids, want);
    let trailers = stream.trailers().await.unwrap().expect("trailers");
    assert!(elapsed_ms(&trailers) >= 7 * 20, "eight items 20 ms apart");

    let req = pb::ListItemsRequest {
        category: pb::Category::Toys as i32,
        ..Default::default()
    };
    let mut stream = c.list_items(req).await.unwrap().into_inner();
    let mut ids = Vec::new();
    while let Some(item) = stream.message().await.unwrap() {
        ids.push(item.id);
    }
    assert_eq!(
        ids,
        ["sku-7"],
        "the discontinued sku-8 is left out by default"
    );

    let req = pb::ListItemsRequest {
        category: 42,
        ..Default::default()
    };
    let status = c.list_items(req).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_items_summarizes_accepted_and_rejected_items() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, true).await;
    let mut no_price = catalog::item("sku-3").unwrap();
    no_price.id = "new-1".into();
    no_price.price = None;
    let reqs = [
        catalog::item("sku-1"),
        catalog::item("sku-5"),
        catalog::item("sku-1"),
        Some(no_price),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, item)| pb::ImportItemsRequest {
        item,
        source: format!("batch.csv:{}", n + 1),
    })
    .collect::<Vec<_>>();
    let res = c
        .import_items(with_id(futures_util::stream::iter(reqs), "req-import"))
        .await
        .unwrap();
    assert_demo_headers(res.metadata(), "req-import");
    elapsed_ms(res.metadata());
    let summary = res.into_inner();
    assert_eq!(summary.accepted, 2);
    assert_eq!(summary.accepted_ids, ["sku-1", "sku-5"]);
    let rejected: Vec<(&str, &str)> = summary
        .rejections
        .iter()
        .map(|r| (r.id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("sku-1", "batch.csv:3: sku-1 appears twice"),
            ("new-1", "batch.csv:4: the price is missing or negative"),
        ]
    );
    assert_eq!(summary.by_category.get("CATEGORY_TOOLS"), Some(&1));
    assert_eq!(summary.by_category.get("CATEGORY_KITCHEN"), Some(&1));
    assert!(summary.took.is_some());
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_item_rejects_invalid_changes_with_bad_request_and_error_info() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, false).await;
    let mut item = catalog::item("sku-2").unwrap();
    item.display_name = " ".into();
    item.price = Some(pb::Money {
        currency_code: "euro".into(),
        units: -1,
        nanos: 0,
    });
    let req = pb::UpdateItemRequest {
        item: Some(item),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".into(), "price".into(), "colour".into()],
        }),
    };
    let status = c.update_item(with_id(req, "req-bad")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "item `sku-2` has 4 invalid fields");
    assert_demo_headers(status.metadata(), "req-bad");

    let details = rpc::Status::decode(status.details()).expect("a google.rpc.Status");
    assert_eq!(details.code, Code::InvalidArgument as i32);
    assert_eq!(details.message, status.message());
    assert_eq!(details.details.len(), 2);
    let bad = details.details[0]
        .to_msg::<BadRequest>()
        .expect("BadRequest");
    assert_eq!(
        details.details[0].type_url,
        "type.googleapis.com/google.rpc.BadRequest"
    );
    let fields: Vec<&str> = bad
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "item.display_name",
            "item.price.currency_code",
            "item.price.units",
            "update_mask.paths[2]",
        ]
    );
    let info = details.details[1].to_msg::<ErrorInfo>().expect("ErrorInfo");
    assert_eq!(
        details.details[1].type_url,
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        (INVALID_ITEM, ERROR_DOMAIN)
    );
    assert_eq!(
        info.metadata.get("item_id").map(String::as_str),
        Some("sku-2")
    );
    assert_eq!(
        info.metadata.get("violations").map(String::as_str),
        Some("4")
    );

    let status = c
        .update_item(pb::UpdateItemRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let missing = pb::UpdateItemRequest {
        item: Some(pb::Item {
            id: "sku-0".into(),
            ..Default::default()
        }),
        update_mask: None,
    };
    let status = c.update_item(missing).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_item_returns_the_changed_item() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, false).await;
    let mut item = catalog::item("sku-4").unwrap();
    item.display_name = "Bypass pruning shears".into();
    item.tags = vec!["on-sale".into()];
    item.units_sold = 1; // not in the mask: ignored
    let req = pb::UpdateItemRequest {
        item: Some(item),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".into(), "tags".into()],
        }),
    };
    let updated = c.update_item(req).await.unwrap().into_inner();
    let before = catalog::item("sku-4").unwrap();
    assert_eq!(updated.display_name, "Bypass pruning shears");
    assert_eq!(updated.tags, ["on-sale"]);
    assert_eq!(updated.units_sold, before.units_sold);
    assert_eq!(updated.revision, before.revision + 1);
    assert_ne!(updated.etag, before.etag);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_thumbnail_is_a_large_deterministic_picture() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, true).await;
    let req = pb::GetThumbnailRequest {
        item_id: "sku-3".into(),
        edge_px: 0,
    };
    let res = c
        .get_thumbnail(with_id(req.clone(), "req-thumb"))
        .await
        .unwrap();
    assert_demo_headers(res.metadata(), "req-thumb");
    let thumb = res.into_inner();
    let header = b"P6\n1024 1024\n255\n";
    assert_eq!(thumb.data.len(), header.len() + 3 * 1024 * 1024);
    assert!(thumb.data.starts_with(header));
    assert_eq!((thumb.width, thumb.height), (1024, 1024));
    let mut crc = flate2::Crc::new();
    crc.update(&thumb.data);
    assert_eq!(crc.sum(), thumb.crc32);
    let again = client(backend.addr, false)
        .await
        .get_thumbnail(req)
        .await
        .unwrap();
    assert_eq!(
        again.into_inner(),
        thumb,
        "the same picture, compressed or not"
    );

    let too_big = pb::GetThumbnailRequest {
        item_id: "sku-3".into(),
        edge_px: 4096,
    };
    assert_eq!(
        c.get_thumbnail(too_big).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    backend.stop().await;
}
