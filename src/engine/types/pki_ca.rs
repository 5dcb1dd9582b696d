//! SCAFFOLD (replace): `pki_ca`.

use std::collections::BTreeSet;

use crate::engine::resource::{Ctx, Desired, Error, Live, Resource, Result};
use crate::spec::types::PkiCa;

pub struct Type;

impl Resource for Type {
    type Props = PkiCa;
    fn desired(_p: &PkiCa, _cx: &Ctx) -> Result<Desired> {
        Err(Error::other("SCAFFOLD"))
    }
    async fn read(_p: &PkiCa, _cx: &Ctx) -> Result<Option<Live>> {
        Err(Error::other("SCAFFOLD"))
    }
    async fn create(_p: &PkiCa, _cx: &Ctx) -> Result<Live> {
        Err(Error::other("SCAFFOLD"))
    }
    async fn update(_p: &PkiCa, _l: &Live, _c: &BTreeSet<String>, _cx: &Ctx) -> Result<Live> {
        Err(Error::other("SCAFFOLD"))
    }
    async fn delete(_l: &Live, _cx: &Ctx) -> Result<()> {
        Err(Error::other("SCAFFOLD"))
    }
}
