//! `family!`: what a family of resource types generates from the list of its members.

/// Declares a family's members, one row per type: its `Declared` facts (every one required: a
/// row that leaves one out does not match), and from the list, the family's enum inside
/// `Kind`, each member's `Member` impl, its entries of `TYPES`, and its part of the dispatch
/// (`with_props!`, `with_type!`). A row reads:
///
/// ```text
/// Type => name "family.type", attrs [...], found <Found>, delete_rank <n>,
///     references [(path, type), ...], sensitive [...];
/// ```
///
/// (on one line each, as the files write them).
///
/// The `$d` argument is a literal `$`, so that the macros generated here can have
/// metavariables of their own.
macro_rules! family {
    (
        module: $module:ident, variant: $Variant:ident, kinds: $Kinds:ident,
        props: $props:ident, types: $types:ident;
        $(
            $T:ident => name $name:literal, attrs [$($attr:literal),*], found $found:expr,
            delete_rank $rank:literal, references [$($refs:tt)*], sensitive [$($sens:literal),*];
        )+
    ) => {
        $(
            impl $crate::plan::types::Declared for $T {
                const NAME: &'static str = $name;
                const ATTRS: &'static [&'static str] = &[$($attr),*];
                const FOUND: $crate::plan::types::Found = $found;
                const DELETE_RANK: u8 = $rank;
                const REFERENCES: &'static [(&'static str, &'static str)] = &[$($refs)*];
                const SENSITIVE: &'static [&'static str] = &[$($sens),*];
            }
        )+
        $crate::plan::types::family::family!(@ ($) $module $Variant $Kinds $props $types; $($T)+);
    };
    (@ ($d:tt) $module:ident $Variant:ident $Kinds:ident $props:ident $types:ident; $($T:ident)+) => {
        /// The typed properties of one of this family's resources.
        #[derive(Debug, Clone, PartialEq)]
        pub enum $Kinds {
            $( $T($T), )+
        }

        /// This family's types, in the order the schema lists them.
        pub(super) const TYPES: &[$crate::plan::types::TypeInfo] = &[
            $( $crate::plan::types::TypeInfo::of::<$T>(), )+
        ];

        $(
            impl $crate::plan::types::Member for $T {
                fn into_kind(self) -> $crate::plan::types::Kind {
                    $crate::plan::types::Kind::$Variant($Kinds::$T(self))
                }
                #[allow(unreachable_patterns)]
                fn from_kind(k: &$crate::plan::types::Kind) -> Option<&$T> {
                    match k {
                        $crate::plan::types::Kind::$Variant($Kinds::$T(p)) => Some(p),
                        _ => None,
                    }
                }
            }
        )+

        /// `with_props!` within this family.
        macro_rules! $props {
            ($d kind:expr, |$d p:ident, $d U:ident| $d body:expr) => {
                match $d kind {
                    $(
                        $crate::plan::types::$module::$Kinds::$T($d p) => {
                            type $d U = $crate::plan::types::$module::$T;
                            $d body
                        }
                    )+
                }
            };
        }
        pub(crate) use $props;

        /// `with_type!` within this family: runs `$body` (which must diverge) for a member.
        macro_rules! $types {
            ($d name:expr, $d U:ident => $d body:expr) => {
                $(
                    if $d name == <$crate::plan::types::$module::$T as $crate::plan::types::Declared>::NAME {
                        type $d U = $crate::plan::types::$module::$T;
                        $d body;
                    }
                )+
            };
        }
        pub(crate) use $types;
    };
}
pub(crate) use family;

/// Declares plan data: structs read from a plan file. Every one derives the same traits and
/// refuses unknown fields, so a misspelt property is an error wherever it stands; declaring
/// them through here keeps a new struct from forgetting either. Other attributes (doc comments,
/// an extra `#[derive(Default)]`, field attributes) pass through.
///
/// A resource type's struct starts with `tagged`: it gets the `tags` every AWS resource takes
/// (the user's own, merged with the ownership tags xpart stamps), as its last property.
macro_rules! plan_data {
    () => {};
    ($(#[$meta:meta])* tagged pub struct $name:ident { $($body:tt)* } $($rest:tt)*) => {
        $crate::plan::types::family::plan_data! {
            $(#[$meta])*
            pub struct $name {
                $($body)*
                #[serde(default)]
                pub tags: $crate::plan::types::Tags,
            }
            $($rest)*
        }
    };
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* } $($rest:tt)*) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($body)* }
        $crate::plan::types::family::plan_data! { $($rest)* }
    };
}
pub(crate) use plan_data;
