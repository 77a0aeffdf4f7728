//! Ordered JSON text for the wire formats built without typed structs: [`Obj`] writes fields in
//! the order given (serde_json's `Value` sorts keys, real APIs do not), and nests through
//! `Box<RawValue>`, which serializes verbatim.

use serde::Serialize;
use serde_json::value::RawValue;

/// A JSON object under construction; fields keep their insertion order.
#[derive(Debug, Default)]
pub struct Obj(String);

/// A finished piece of JSON text, embeddable in another [`Obj`] or array (`Vec<Raw>`).
pub type Raw = Box<RawValue>;

impl Obj {
    pub fn new() -> Self {
        Obj(String::from("{"))
    }

    /// Adds `"key": value`.
    pub fn f(mut self, key: &str, value: impl Serialize) -> Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&text(&key));
        self.0.push(':');
        self.0.push_str(&text(&value));
        self
    }

    /// Adds the field only when `value` is `Some`.
    pub fn opt(self, key: &str, value: Option<impl Serialize>) -> Self {
        match value {
            Some(v) => self.f(key, v),
            None => self,
        }
    }

    /// The object as embeddable JSON.
    pub fn raw(mut self) -> Raw {
        self.0.push('}');
        RawValue::from_string(self.0).unwrap_or_else(|_| null())
    }

    /// The object as bytes (a response body or an SSE payload).
    pub fn bytes(self) -> Vec<u8> {
        self.raw().get().as_bytes().to_vec()
    }
}

/// Any serializable value as embeddable JSON (e.g. a `json!` literal whose key order is fine).
pub fn raw(value: impl Serialize) -> Raw {
    RawValue::from_string(text(&value)).unwrap_or_else(|_| null())
}

/// JSON `null`.
pub fn null() -> Raw {
    RawValue::from_string("null".to_owned()).expect("null is JSON")
}

fn text(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_nests() {
        let inner = Obj::new().f("z", 1).f("a", "x").raw();
        let o = Obj::new()
            .f("b", true)
            .f("inner", &inner)
            .opt("skip", None::<u8>)
            .opt("keep", Some(vec![raw(2), null()]))
            .bytes();
        assert_eq!(
            String::from_utf8(o).unwrap(),
            r#"{"b":true,"inner":{"z":1,"a":"x"},"keep":[2,null]}"#
        );
    }
}
