//! The demo shop's fixed catalog: eight items whose content never changes, so
//! that tests (and people comparing two captures) can rely on it.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost_types::value::Kind;
use prost_types::{Struct, Timestamp, Value};
use tonic::Status;

use super::pb::{self, item::Availability, item::Condition, item::Variant};

/// How many items the catalog holds: `sku-1` to `sku-8`.
pub const ITEM_COUNT: usize = 8;

/// The currency of every demo price.
pub const CURRENCY: &str = "EUR";

struct Row {
    name: &'static str,
    category: pb::Category,
    cents: i64,
    tags: &'static [&'static str],
    brand: &'static str,
    material: &'static str,
    supplier: &'static str,
    stock: Stock,
    /// Width, height, depth in mm, weight in kg.
    size: (f64, f64, f64, f32),
    variants: &'static [(&'static str, i32)],
    warranty_months: u32,
    rating_delta: i32,
}

enum Stock {
    /// North and south warehouse quantities.
    On(u32, u32),
    /// Hours until restock, units on order.
    Back(i64, u32),
    Gone(&'static str),
}

const ROWS: [Row; ITEM_COUNT] = [
    Row {
        name: "Claw hammer",
        category: pb::Category::Tools,
        cents: 1999,
        tags: &["hand-tool", "bestseller"],
        brand: "Forgewell",
        material: "steel",
        supplier: "FW-1001",
        stock: Stock::On(42, 17),
        size: (330.0, 130.0, 32.5, 0.68),
        variants: &[],
        warranty_months: 60,
        rating_delta: 12,
    },
    Row {
        name: "Cordless drill",
        category: pb::Category::Tools,
        cents: 8900,
        tags: &["power-tool"],
        brand: "Voltara",
        material: "plastic",
        supplier: "VT-2210",
        stock: Stock::On(7, 0),
        size: (240.0, 210.0, 80.0, 1.45),
        variants: &[("18 V", 0), ("24 V", 2500)],
        warranty_months: 24,
        rating_delta: -35,
    },
    Row {
        name: "Garden hose, 25 m",
        category: pb::Category::Garden,
        cents: 3450,
        tags: &["watering"],
        brand: "Greenline",
        material: "rubber",
        supplier: "GL-0042",
        stock: Stock::Back(72, 120),
        size: (300.0, 300.0, 90.0, 3.2),
        variants: &[("25 m", 0), ("50 m", 1999)],
        warranty_months: 0,
        rating_delta: 0,
    },
    Row {
        name: "Pruning shears",
        category: pb::Category::Garden,
        cents: 2495,
        tags: &["hand-tool", "cutting"],
        brand: "Greenline",
        material: "steel",
        supplier: "GL-0107",
        stock: Stock::On(15, 9),
        size: (210.0, 60.0, 20.0, 0.25),
        variants: &[],
        warranty_months: 12,
        rating_delta: 4,
    },
    Row {
        name: "Cast-iron skillet",
        category: pb::Category::Kitchen,
        cents: 4200,
        tags: &["cookware", "bestseller"],
        brand: "Hearthstone",
        material: "cast iron",
        supplier: "HS-7700",
        stock: Stock::On(23, 31),
        size: (450.0, 260.0, 55.0, 2.7),
        variants: &[],
        warranty_months: 120,
        rating_delta: 8,
    },
    Row {
        name: "Chef's knife",
        category: pb::Category::Kitchen,
        cents: 6490,
        tags: &["cutting", "cookware"],
        brand: "Hearthstone",
        material: "steel",
        supplier: "HS-7731",
        stock: Stock::Back(36, 40),
        size: (340.0, 50.0, 25.0, 0.22),
        variants: &[("20 cm", 0), ("24 cm", 800)],
        warranty_months: 60,
        rating_delta: -3,
    },
    Row {
        name: "Wooden train set",
        category: pb::Category::Toys,
        cents: 4999,
        tags: &["wood", "age-3-plus"],
        brand: "Little Loco",
        material: "beech",
        supplier: "LL-0300",
        stock: Stock::On(5, 2),
        size: (400.0, 300.0, 80.0, 1.9),
        variants: &[],
        warranty_months: 0,
        rating_delta: 21,
    },
    Row {
        name: "Stunt kite",
        category: pb::Category::Toys,
        cents: 1525,
        tags: &["outdoor"],
        brand: "Skyward",
        material: "ripstop nylon",
        supplier: "SK-0009",
        stock: Stock::Gone("the maker stopped producing it"),
        size: (900.0, 120.0, 40.0, 0.3),
        variants: &[],
        warranty_months: 0,
        rating_delta: -50,
    },
];

/// The catalog entry with this id (`sku-1` to `sku-8`).
pub fn item(id: &str) -> Option<pb::Item> {
    let n: usize = id.strip_prefix("sku-")?.parse().ok()?;
    (1..=ITEM_COUNT).contains(&n).then(|| build(n - 1))
}

/// Every catalog entry, in id order.
pub fn items() -> impl Iterator<Item = pb::Item> {
    (0..ITEM_COUNT).map(build)
}

/// `cents` hundredths of a euro.
pub fn money(cents: i64) -> pb::Money {
    pb::Money {
        currency_code: CURRENCY.into(),
        units: cents / 100,
        // |cents % 100| < 100, so this fits.
        nanos: (cents % 100) as i32 * 10_000_000,
    }
}

/// A short stable fingerprint of an item revision (FNV-1a, 64 bits).
pub fn etag(id: &str, revision: i64) -> Bytes {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{id}:{revision}").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Bytes::copy_from_slice(&hash.to_be_bytes())
}

fn build(index: usize) -> pb::Item {
    let row = &ROWS[index];
    let n = index as i64 + 1;
    let id = format!("sku-{n}");
    let revision = 3 + n;
    let (availability, by_warehouse) = match row.stock {
        Stock::On(north, south) => (
            Availability::InStock(pb::InStock {
                quantity: north + south,
                warehouse: if north >= south { "north" } else { "south" }.into(),
            }),
            BTreeMap::from([("north".to_owned(), north), ("south".to_owned(), south)]),
        ),
        Stock::Back(hours, on_order) => (
            Availability::Backorder(pb::Backorder {
                restock_eta: Some(prost_types::Duration {
                    seconds: hours * 3600,
                    nanos: 0,
                }),
                on_order,
            }),
            BTreeMap::from([("north".to_owned(), 0), ("south".to_owned(), 0)]),
        ),
        Stock::Gone(reason) => (
            Availability::DiscontinuedReason(reason.into()),
            BTreeMap::new(),
        ),
    };
    let variants = row
        .variants
        .iter()
        .enumerate()
        .map(|(v, (label, delta))| Variant {
            sku: format!("{id}-{}", v + 1),
            label: (*label).into(),
            price_delta_cents: *delta,
            options: BTreeMap::from([("size".to_owned(), (*label).to_owned())]),
        })
        .collect();
    let mut extensions = Vec::new();
    if row.warranty_months > 0 {
        extensions.push(loom_shared::rpc::to_any(&pb::Warranty {
            months: row.warranty_months,
            provider: row.brand.into(),
            transferable: row.warranty_months >= 60,
        }));
    }
    let (width, height, depth, weight) = row.size;
    pb::Item {
        id: id.clone(),
        display_name: row.name.into(),
        category: row.category as i32,
        price: Some(money(row.cents)),
        tags: row.tags.iter().map(|t| (*t).to_owned()).collect(),
        variants,
        attributes: BTreeMap::from([
            ("brand".to_owned(), row.brand.to_owned()),
            ("material".to_owned(), row.material.to_owned()),
        ]),
        availability: Some(availability),
        dimensions: Some(pb::Dimensions {
            width_mm: width,
            height_mm: height,
            depth_mm: depth,
            weight_kg: weight,
        }),
        barcode: 4_006_381_333_900 + n as u64,
        units_sold: (n as u64) * 1_234_567_891,
        revision,
        rating_delta: row.rating_delta,
        featured: row.tags.contains(&"bestseller"),
        etag: etag(&id, revision),
        // 2024-05-01T09:30:00Z plus `n` days.
        updated_at: Some(Timestamp {
            seconds: 1_714_555_800 + n * 86_400,
            nanos: 0,
        }),
        specs: Some(specs(row)),
        extensions,
        weekly_sales: (0..6).map(|w| ((n * 7 + w * 5) % 23) as i32).collect(),
        price_history: [1.10, 1.05, 1.0]
            .iter()
            .map(|f| (row.cents as f64 * f).round() / 100.0)
            .collect(),
        condition: if index == 6 {
            Condition::Refurbished
        } else {
            Condition::New
        } as i32,
        supplier_code: row.supplier.into(),
        stock_by_warehouse: by_warehouse,
    }
}

fn specs(row: &Row) -> Struct {
    let kind = |k| Value { kind: Some(k) };
    let mut fields = BTreeMap::from([
        ("material".to_owned(), Value::from(row.material)),
        (
            "warranty_years".to_owned(),
            Value::from(f64::from(row.warranty_months) / 12.0),
        ),
        (
            "cordless".to_owned(),
            Value::from(row.name.contains("Cordless")),
        ),
        (
            "tags".to_owned(),
            Value::from(row.tags.iter().map(|t| Value::from(*t)).collect::<Vec<_>>()),
        ),
        ("notes".to_owned(), kind(Kind::NullValue(0))),
    ]);
    fields.insert(
        "certifications".to_owned(),
        Value::from(BTreeMap::from([
            ("CE".to_owned(), Value::from(true)),
            ("FSC".to_owned(), Value::from(row.material == "beech")),
        ])),
    );
    Struct { fields }
}

/// The error for an id the catalog does not have.
pub(super) fn not_found(id: &str) -> Status {
    Status::not_found(format!(
        "no item with id `{id}`; try sku-1 to sku-{ITEM_COUNT}"
    ))
}
