//! Reading a plan document: the top-level entries as values, and the resources one by one, so
//! each is built (and linted) while its data is still in the processor's cache. Reading a whole
//! large plan into one value tree first, then walking it, costs more than its size's share.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

/// What the reader hands over, in document order.
pub(super) trait Receiver {
    /// A top-level entry other than `resources` (its key as written, `?` if not a string).
    fn header(&mut self, key: String, value: Value);
    /// One entry of `resources` whose key is a string.
    fn resource(&mut self, id: String, value: Value);
    /// `resources` is there but not a mapping (null is an empty one).
    fn resources_not_a_mapping(&mut self);
    /// A key repeated in the top-level mapping (`in_resources` false) or in `resources`.
    fn duplicate(&mut self, key: String, in_resources: bool);
}

/// What the document is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Mapping,
    /// Anything else: a scalar, a sequence, a tagged value, nothing.
    Other,
}

/// Read `text` into `sink`. A YAML error (syntax, an alias, a duplicate key inside a value)
/// is serde_yaml's, with its location.
pub(super) fn document(text: &str, sink: &mut dyn Receiver) -> Result<Shape, serde_yaml::Error> {
    serde_yaml::Deserializer::from_str(text).deserialize_any(Top { sink })
}

/// Any value that is not a mapping is only drained: what shape it had is all that matters.
macro_rules! not_a_mapping {
    ($value:ty, $other:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$value, E> {
            Ok($other)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$value, E> {
            Ok($other)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$value, E> {
            Ok($other)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$value, E> {
            Ok($other)
        }
        fn visit_str<E>(self, _: &str) -> Result<$value, E> {
            Ok($other)
        }
        fn visit_unit<E>(self) -> Result<$value, E> {
            Ok($other)
        }
        fn visit_none<E>(self) -> Result<$value, E> {
            Ok($other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($other)
        }
        fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<$value, A::Error> {
            use serde::de::VariantAccess;
            let (_, variant) = data.variant::<IgnoredAny>()?;
            variant.newtype_variant::<IgnoredAny>()?;
            Ok($other)
        }
    };
}

struct Top<'s> {
    sink: &'s mut dyn Receiver,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a plan (a mapping)")
    }

    not_a_mapping!(Shape, Shape::Other);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<Value>()? {
            let key = key.as_str().unwrap_or("?").to_string();
            if !seen.insert(key.clone()) {
                self.sink.duplicate(key, false);
                map.next_value::<IgnoredAny>()?;
            } else if key == "resources" {
                map.next_value_seed(Resources {
                    sink: &mut *self.sink,
                })?;
            } else {
                let value: Value = map.next_value()?;
                self.sink.header(key, value);
            }
        }
        Ok(Shape::Mapping)
    }
}

/// `Visitor` methods for scalars where the resources' mapping should be: each says so.
macro_rules! not_a_mapping {
    ($($visit:ident($t:ty)),*) => {
        $(
            fn $visit<E>(self, _: $t) -> Result<(), E> {
                self.sink.resources_not_a_mapping();
                Ok(())
            }
        )*
    };
}

struct Resources<'s> {
    sink: &'s mut dyn Receiver,
}

impl<'de> DeserializeSeed<'de> for Resources<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Resources<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of resource id to resource")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(()) // `resources:` with nothing: none
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    not_a_mapping! { visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64), visit_str(&str) }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.sink.resources_not_a_mapping();
        Ok(())
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use serde::de::VariantAccess;
        let (_, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant::<IgnoredAny>()?;
        self.sink.resources_not_a_mapping();
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<Value>()? {
            // Keys that are not strings cannot be ids: skipped (the plan's schema says so).
            let Some(id) = key.as_str().map(str::to_string) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if !seen.insert(id.clone()) {
                self.sink.duplicate(id, true);
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value: Value = map.next_value()?;
            self.sink.resource(id, value);
        }
        Ok(())
    }
}
