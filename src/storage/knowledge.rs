//! The knowledge the index is built from, and the orders buyers ask about.
//!
//! Uploads replace rows by key (FAQ by id and language, passages by document,
//! orders by order number) inside one transaction, so a failed upload leaves
//! the earlier knowledge as it was.

use sqlx::Row;

use super::{Store, StoreError};
use crate::knowledge::{FaqEntry, Order, Passage};
use crate::language::Language;

/// How much knowledge is stored, for `/health` and start-up logs.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct KnowledgeCounts {
    pub faq_entries: i64,
    pub passages: i64,
    pub orders: i64,
}

impl Store {
    /// Inserts or replaces FAQ entries, passages (whole documents) and orders.
    pub async fn save_knowledge(
        &self,
        faq: &[FaqEntry],
        passages: &[Passage],
        orders: &[Order],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for entry in faq {
            sqlx::query(
                "INSERT OR REPLACE INTO faq_entries \
                 (id, language, question, answer, tags, reviewed, source) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&entry.id)
            .bind(entry.language.code())
            .bind(&entry.question)
            .bind(&entry.answer)
            .bind(entry.tags.join(";"))
            .bind(entry.reviewed)
            .bind(&entry.source)
            .execute(&mut *tx)
            .await?;
        }
        let mut documents: Vec<&str> = passages.iter().map(|p| p.document.as_str()).collect();
        documents.dedup();
        for document in documents {
            sqlx::query("DELETE FROM passages WHERE document = ?")
                .bind(document)
                .execute(&mut *tx)
                .await?;
        }
        for passage in passages {
            sqlx::query(
                "INSERT OR REPLACE INTO passages (id, document, language, title, body, source) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&passage.id)
            .bind(&passage.document)
            .bind(passage.language.code())
            .bind(&passage.title)
            .bind(&passage.body)
            .bind(&passage.source)
            .execute(&mut *tx)
            .await?;
        }
        for order in orders {
            insert_order(&mut tx, order).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn knowledge_counts(&self) -> Result<KnowledgeCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM faq_entries) AS faq, \
             (SELECT COUNT(*) FROM passages) AS passages, (SELECT COUNT(*) FROM orders) AS orders",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(KnowledgeCounts {
            faq_entries: row.try_get("faq")?,
            passages: row.try_get("passages")?,
            orders: row.try_get("orders")?,
        })
    }

    /// Loads every FAQ entry in every language.
    pub async fn faq_entries(&self) -> Result<Vec<FaqEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, language, question, answer, tags, reviewed, source FROM faq_entries \
             ORDER BY id, language",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let language: String = row.try_get("language")?;
                let tags: String = row.try_get("tags")?;
                Ok(FaqEntry {
                    id: row.try_get("id")?,
                    language: parse_language(language)?,
                    question: row.try_get("question")?,
                    answer: row.try_get("answer")?,
                    tags: tags
                        .split(';')
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect(),
                    reviewed: row.try_get("reviewed")?,
                    source: row.try_get("source")?,
                })
            })
            .collect()
    }

    /// Loads every passage of every product document.
    pub async fn passages(&self) -> Result<Vec<Passage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, document, language, title, body, source FROM passages ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let language: String = row.try_get("language")?;
                Ok(Passage {
                    id: row.try_get("id")?,
                    document: row.try_get("document")?,
                    language: parse_language(language)?,
                    title: row.try_get("title")?,
                    body: row.try_get("body")?,
                    source: row.try_get("source")?,
                })
            })
            .collect()
    }

    /// Loads the order with this number (compared case-insensitively).
    pub async fn order(&self, order_number: &str) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query("SELECT * FROM orders WHERE order_number = ? COLLATE NOCASE")
            .bind(order_number)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Order {
                order_number: row.try_get("order_number")?,
                email: row.try_get("email")?,
                phone: row.try_get("phone")?,
                status: row.try_get("status")?,
                carrier: row.try_get("carrier")?,
                tracking_number: row.try_get("tracking_number")?,
                ordered_on: row.try_get("ordered_on")?,
                shipped_on: row.try_get("shipped_on")?,
                estimated_delivery: row.try_get("estimated_delivery")?,
                destination_country: row.try_get("destination_country")?,
                items: row.try_get("items")?,
                source: row.try_get("source")?,
            })
        })
        .transpose()
    }

    /// Records one attempt to prove an order and counts it against the
    /// conversation when it failed.
    pub async fn record_order_attempt(
        &self,
        conversation_id: &str,
        address: &str,
        order_number: &str,
        success: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO order_attempts (conversation_id, address, order_number, success) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(conversation_id)
        .bind(address)
        .bind(order_number)
        .bind(success)
        .execute(&mut *tx)
        .await?;
        if !success {
            sqlx::query(
                "UPDATE conversations SET failed_order_attempts = failed_order_attempts + 1 \
                 WHERE id = ?",
            )
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Failed attempts from one client address within the last hour.
    pub async fn failed_order_attempts_from(&self, address: &str) -> Result<i64, StoreError> {
        let count = sqlx::query_scalar(
            "SELECT COUNT(*) FROM order_attempts WHERE address = ? AND success = 0 \
             AND created_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')",
        )
        .bind(address)
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }
}

async fn insert_order(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    order: &Order,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT OR REPLACE INTO orders (order_number, email, phone, status, carrier, \
         tracking_number, ordered_on, shipped_on, estimated_delivery, destination_country, \
         items, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&order.order_number)
    .bind(&order.email)
    .bind(&order.phone)
    .bind(&order.status)
    .bind(&order.carrier)
    .bind(&order.tracking_number)
    .bind(&order.ordered_on)
    .bind(&order.shipped_on)
    .bind(&order.estimated_delivery)
    .bind(&order.destination_country)
    .bind(&order.items)
    .bind(&order.source)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn parse_language(code: String) -> Result<Language, StoreError> {
    code.parse().map_err(|_| StoreError::Corrupt {
        column: "language",
        value: code,
    })
}
