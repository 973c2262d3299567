//! Order status for buyers who prove who they are.
//!
//! A buyer names an order number and the e-mail address (or phone number) on
//! that order; only a match reveals anything. Until then every reply is the
//! same whether the order exists or not, so the bot cannot be used to probe
//! order numbers. Failed attempts are limited per conversation and per client
//! address; past either limit the bot stops checking and offers a person.

use std::sync::LazyLock;

use regex::Regex;

use super::texts::Texts;
use crate::knowledge::Order;
use crate::language::Language;

/// Order numbers as the sample store writes them: one letter and 4 to 9
/// digits, optionally after `#`.
static ORDER_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^A-Za-z0-9_-])#?([a-z]\d{4,9})(?-u:\b)").expect("static regex")
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+").expect("static regex")
});

static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\d[\d\s().-]{6,}\d").expect("static regex"));

/// What a message says about an order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderMention {
    pub order_number: Option<String>,
    pub email: Option<String>,
    /// Digits of a phone number, at least 8.
    pub phone_digits: Option<String>,
}

impl OrderMention {
    pub fn is_empty(&self) -> bool {
        self.order_number.is_none() && self.email.is_none() && self.phone_digits.is_none()
    }
}

/// Finds an order number, an e-mail address and a phone number in a message.
/// Full-width letters and digits, as Chinese and Japanese keyboards type
/// them, count as their ASCII forms.
pub fn parse_mention(text: &str) -> OrderMention {
    let text = &fold_full_width(text);
    let order_number = ORDER_NUMBER
        .captures(text)
        .map(|c| c[1].to_ascii_uppercase());
    let email = EMAIL.find(text).map(|m| m.as_str().to_ascii_lowercase());
    let phone_digits = PHONE
        .find_iter(text)
        .map(|m| {
            m.as_str()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        })
        .find(|digits| digits.len() >= 8);
    OrderMention {
        order_number,
        email,
        phone_digits,
    }
}

fn fold_full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        })
        .collect()
}

/// Whether the proof matches the order: the e-mail exactly (ignoring case),
/// or the last 8 digits of the phone number.
pub fn proof_matches(order: &Order, mention: &OrderMention) -> bool {
    if let Some(email) = &mention.email
        && order.email.eq_ignore_ascii_case(email)
    {
        return true;
    }
    let order_digits: String = order.phone.chars().filter(char::is_ascii_digit).collect();
    match &mention.phone_digits {
        Some(digits) if order_digits.len() >= 8 => {
            digits.ends_with(&order_digits[order_digits.len() - 8..])
        }
        _ => false,
    }
}

/// Renders the status reply for a proven order.
pub fn status_reply(texts: &Texts, language: Language, order: &Order) -> String {
    let status_key = format!("status_{}", order.status.trim().to_ascii_lowercase());
    let status = if texts.has_phrase(&status_key) {
        texts.phrase(language, &status_key).to_owned()
    } else {
        order.status.clone()
    };
    let missing = texts.phrase(language, "not_available");
    let or_missing = |value: &str| {
        if value.trim().is_empty() {
            missing.to_owned()
        } else {
            value.trim().to_owned()
        }
    };
    let shipped = !order.shipped_on.trim().is_empty() || !order.tracking_number.trim().is_empty();
    let key = if shipped {
        "order_status"
    } else {
        "order_status_not_shipped"
    };
    texts.render(
        language,
        key,
        &[
            ("order", &order.order_number),
            ("status", &status),
            ("carrier", &or_missing(&order.carrier)),
            ("tracking", &or_missing(&order.tracking_number)),
            ("shipped_on", &or_missing(&order.shipped_on)),
            ("estimated_delivery", &or_missing(&order.estimated_delivery)),
            ("items", &or_missing(&order.items)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_order_number_and_email() {
        let mention = parse_mention("Where is #a1024? My e-mail is Buyer@Example.com");
        assert_eq!(mention.order_number.as_deref(), Some("A1024"));
        assert_eq!(mention.email.as_deref(), Some("buyer@example.com"));
    }

    #[test]
    fn full_width_order_number_is_read() {
        let mention = parse_mention("注文Ｂ２００３の状況");
        assert_eq!(mention.order_number.as_deref(), Some("B2003"));
    }

    #[test]
    fn model_numbers_are_not_orders() {
        assert_eq!(
            parse_mention("Price of KB-HB150 and KB-PL6060?").order_number,
            None
        );
        assert_eq!(parse_mention("IP65 rating").order_number, None);
    }

    #[test]
    fn phone_proof_uses_last_eight_digits() {
        let order = Order {
            order_number: "A1".into(),
            email: "a@example.com".into(),
            phone: "+49 30 5550 1234".into(),
            status: "shipped".into(),
            carrier: String::new(),
            tracking_number: String::new(),
            ordered_on: String::new(),
            shipped_on: String::new(),
            estimated_delivery: String::new(),
            destination_country: String::new(),
            items: String::new(),
            source: String::new(),
        };
        let mention = parse_mention("phone 0049 30 55501234");
        assert!(proof_matches(&order, &mention));
        assert!(!proof_matches(
            &order,
            &parse_mention("phone 0049 30 55501299")
        ));
    }
}
