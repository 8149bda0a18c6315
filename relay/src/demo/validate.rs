//! Checking what clients send: imported items and UpdateItem changes, with
//! the `google.rpc` error details UpdateItem fails with.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::Bytes;
use loom_shared::rpc::{self, BadRequest, ErrorInfo, bad_request::FieldViolation, to_any};
use prost::Message as _;
use tonic::{Code, Status};

use super::catalog;
use super::catalog::not_found;
use super::pb;

/// The `domain` of the service's `google.rpc.ErrorInfo`.
pub const ERROR_DOMAIN: &str = "inventory.demo.loom.dev";
/// The `reason` of UpdateItem's `google.rpc.ErrorInfo`.
pub const INVALID_ITEM: &str = "ITEM_INVALID";
/// The fields UpdateItem can change.
pub const UPDATABLE: [&str; 4] = ["display_name", "price", "tags", "attributes"];

/// Why an imported item is rejected, if it is.
pub fn import_problem(item: Option<&pb::Item>, accepted: &[String]) -> Option<String> {
    let Some(item) = item else {
        return Some("no item".into());
    };
    if item.id.is_empty() {
        Some("the id is empty".into())
    } else if accepted.contains(&item.id) {
        Some(format!("{} appears twice", item.id))
    } else if item.display_name.trim().is_empty() {
        Some("the display name is empty".into())
    } else if item.category == pb::Category::Unspecified as i32 {
        Some("no category".into())
    } else if item
        .price
        .as_ref()
        .is_none_or(|p| p.units < 0 || p.nanos < 0)
    {
        Some("the price is missing or negative".into())
    } else {
        None
    }
}

/// The changed item, or why the change is invalid.
pub fn update(req: pb::UpdateItemRequest) -> Result<pb::Item, Status> {
    let Some(change) = req.item else {
        return Err(invalid(
            "",
            vec![violation("item", "REQUIRED", "item is required")],
        ));
    };
    let mut item = catalog::item(&change.id).ok_or_else(|| not_found(&change.id))?;
    let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
    let mut violations = Vec::new();
    if paths.is_empty() {
        violations.push(violation(
            "update_mask",
            "REQUIRED",
            &format!("name the fields to change: {}", UPDATABLE.join(", ")),
        ));
    }
    for (n, path) in paths.iter().enumerate() {
        match path.as_str() {
            "display_name" => {
                let name = change.display_name.trim();
                if name.is_empty() || name.chars().count() > 80 {
                    violations.push(violation(
                        "item.display_name",
                        "BAD_LENGTH",
                        "must be 1 to 80 characters",
                    ));
                }
                item.display_name = name.to_owned();
            }
            "price" => {
                violations.extend(price_problems(change.price.as_ref()));
                item.price = change.price.clone();
            }
            "tags" => {
                for (t, tag) in change.tags.iter().enumerate() {
                    let ok = !tag.is_empty()
                        && tag
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if !ok {
                        violations.push(violation(
                            &format!("item.tags[{t}]"),
                            "BAD_FORMAT",
                            &format!("`{tag}` is not a tag: use lowercase letters, digits and -"),
                        ));
                    }
                }
                item.tags = change.tags.clone();
            }
            "attributes" => item.attributes = change.attributes.clone(),
            other => violations.push(violation(
                &format!("update_mask.paths[{n}]"),
                "NOT_UPDATABLE",
                &format!("`{other}` cannot be changed; use {}", UPDATABLE.join(", ")),
            )),
        }
    }
    if !violations.is_empty() {
        return Err(invalid(&item.id, violations));
    }
    item.revision += 1;
    item.etag = catalog::etag(&item.id, item.revision);
    item.updated_at = Some(SystemTime::now().into());
    Ok(item)
}

fn price_problems(price: Option<&pb::Money>) -> Vec<FieldViolation> {
    let Some(price) = price else {
        return vec![violation("item.price", "REQUIRED", "price is required")];
    };
    let mut out = Vec::new();
    let code = &price.currency_code;
    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        out.push(violation(
            "item.price.currency_code",
            "BAD_FORMAT",
            &format!("`{code}` is not an ISO 4217 code such as EUR"),
        ));
    }
    if price.units < 0 || price.nanos < 0 {
        out.push(violation(
            "item.price.units",
            "NEGATIVE",
            "a price must not be negative",
        ));
    }
    if price.nanos.unsigned_abs() > 999_999_999 {
        out.push(violation(
            "item.price.nanos",
            "OUT_OF_RANGE",
            "must be between -999999999 and 999999999",
        ));
    }
    out
}

fn violation(field: &str, reason: &str, description: &str) -> FieldViolation {
    FieldViolation {
        field: field.into(),
        description: description.into(),
        reason: reason.into(),
        localized_message: None,
    }
}

/// INVALID_ARGUMENT with a `google.rpc.Status` holding a `BadRequest` and an
/// `ErrorInfo` in `grpc-status-details-bin`.
fn invalid(id: &str, violations: Vec<FieldViolation>) -> Status {
    let count = violations.len();
    let message = format!(
        "item `{id}` has {count} invalid field{}",
        if count == 1 { "" } else { "s" }
    );
    let info = ErrorInfo {
        reason: INVALID_ITEM.into(),
        domain: ERROR_DOMAIN.into(),
        metadata: BTreeMap::from([
            ("item_id".to_owned(), id.to_owned()),
            ("violations".to_owned(), count.to_string()),
        ]),
    };
    let status = rpc::Status {
        code: Code::InvalidArgument as i32,
        message: message.clone(),
        details: vec![
            to_any(&BadRequest {
                field_violations: violations,
            }),
            to_any(&info),
        ],
    };
    Status::with_details(
        Code::InvalidArgument,
        message,
        Bytes::from(status.encode_to_vec()),
    )
}
