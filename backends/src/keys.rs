//! The keys a mapping-valued inventory setting accepts (`psql: {command, database}`), read
//! from the struct that deserializes it rather than written out again: a list kept by hand
//! would drift from what is accepted, and the inventory reference (inventory.example.yaml,
//! checked by a test against these lists) would miss the key that was added.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::forward_to_deserialize_any;

/// A key whose value is a mapping, and the function that lists that mapping's keys.
pub type Mapping = (&'static str, fn() -> &'static [&'static str]);

/// The field names of a `#[derive(Deserialize)]` struct, renames applied. The derived code
/// hands them to `deserialize_struct`, where this deserializer keeps them and stops.
pub fn of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(Fields(&mut fields));
    fields.unwrap_or_else(|| panic!("{} is not a struct", std::any::type_name::<T>()))
}

struct Fields<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for Fields<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("only its fields were wanted"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)] // only its shape is read
    struct Sample {
        plain: String,
        #[serde(rename = "become", default)]
        become_: bool,
    }

    #[test]
    fn a_structs_keys_are_its_fields_as_written_in_the_inventory() {
        assert_eq!(super::of::<Sample>(), ["plain", "become"]);
    }
}
