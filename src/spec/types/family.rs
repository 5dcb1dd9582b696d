//! `family!`: what a family of resource types generates from the list of its members.

/// Declares a family's members: its enum inside `Kind`, each member's `Member` impl, its
/// entries of `TYPES`, and its part of the dispatch (`with_props!`, `with_type!`).
///
/// The `$d` argument is a literal `$`, so that the macros generated here can have
/// metavariables of their own.
macro_rules! family {
    (
        module: $module:ident, variant: $Variant:ident, kinds: $Kinds:ident,
        props: $props:ident, types: $types:ident;
        $($T:ident),+ $(,)?
    ) => {
        $crate::spec::types::family::family!(@ ($) $module $Variant $Kinds $props $types; $($T)+);
    };
    (@ ($d:tt) $module:ident $Variant:ident $Kinds:ident $props:ident $types:ident; $($T:ident)+) => {
        /// The typed properties of one of this family's resources.
        #[derive(Debug, Clone, PartialEq)]
        pub enum $Kinds {
            $( $T($T), )+
        }

        /// This family's types, in the order the schema lists them.
        pub(super) const TYPES: &[$crate::spec::types::TypeInfo] = &[
            $( $crate::spec::types::TypeInfo::of::<$T>(), )+
        ];

        $(
            impl $crate::spec::types::Member for $T {
                fn into_kind(self) -> $crate::spec::types::Kind {
                    $crate::spec::types::Kind::$Variant($Kinds::$T(self))
                }
                #[allow(unreachable_patterns)]
                fn from_kind(k: &$crate::spec::types::Kind) -> Option<&$T> {
                    match k {
                        $crate::spec::types::Kind::$Variant($Kinds::$T(p)) => Some(p),
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
                        $crate::spec::types::$module::$Kinds::$T($d p) => {
                            type $d U = $crate::spec::types::$module::$T;
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
                    if $d name == <$crate::spec::types::$module::$T as $crate::spec::types::Declared>::NAME {
                        type $d U = $crate::spec::types::$module::$T;
                        $d body;
                    }
                )+
            };
        }
        pub(crate) use $types;
    };
}
pub(crate) use family;
