//! OpenAPI schemas of the engine's own scalar types (feature `openapi`; the api crate's document
//! is generated from them): each is a string on the wire. Each type declares its own schema with
//! `string_schema!` beside its definition, so this module stays below every other.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, Object, Schema, SchemaFormat, Type};

/// A string schema with an optional well-known format and a description.
pub fn string(format: Option<KnownFormat>, description: &str) -> RefOr<Schema> {
    Object::builder()
        .schema_type(Type::String)
        .format(format.map(SchemaFormat::KnownFormat))
        .description(Some(description))
        .into()
}

/// Implements `PartialSchema` and `ToSchema` for a type that is a string on the wire.
macro_rules! string_schema {
    ($t:ty, $name:literal, $format:expr, $description:literal) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::string($format, $description)
            }
        }
        impl utoipa::ToSchema for $t {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}

/// The name under which a typed ID's schema appears.
pub fn id_name(type_name: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(type_name)
}
