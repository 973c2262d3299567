//! The seller's knowledge: FAQ entries, product passages and orders, how they
//! are read from files, and how they are searched.
//!
//! The store is the source of truth; [`index::KnowledgeIndex`] is rebuilt from
//! it whenever the knowledge changes, into a fresh directory, and swapped in
//! only once complete, so a failed rebuild leaves the live index serving.
//! Orders are never indexed: they are looked up by number after the buyer
//! proves who they are.

pub mod analyzer;
pub mod index;
pub mod loader;

use serde::{Deserialize, Serialize};

use crate::language::Language;

pub use index::{Hit, KnowledgeIndex};
pub use loader::{LoadReport, RowError};

/// One FAQ entry in one language. Entries in several languages share an id.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqEntry {
    pub id: String,
    pub language: Language,
    pub question: String,
    pub answer: String,
    pub tags: Vec<String>,
    /// Written or approved by a person (as opposed to machine-translated).
    pub reviewed: bool,
    /// File the entry came from.
    pub source: String,
}

/// One section of a product document.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// `<document>#<section number>`.
    pub id: String,
    pub document: String,
    pub language: Language,
    /// Document title and section heading.
    pub title: String,
    pub body: String,
    pub source: String,
}

/// One order from the seller's order export.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub order_number: String,
    pub email: String,
    pub phone: String,
    pub status: String,
    pub carrier: String,
    pub tracking_number: String,
    pub ordered_on: String,
    pub shipped_on: String,
    pub estimated_delivery: String,
    pub destination_country: String,
    pub items: String,
    pub source: String,
}

/// What kind of knowledge an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Faq,
    Product,
    Order,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Faq => "faq",
            SourceKind::Product => "product",
            SourceKind::Order => "order",
        }
    }
}

/// A source cited under an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub kind: SourceKind,
    pub id: String,
    pub title: String,
    pub url: Option<String>,
    /// Retrieval score (BM25); 0 for orders.
    pub score: f32,
}
