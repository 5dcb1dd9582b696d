//! Rules for certificates and keys: subjects, key specs, key directories, CA files.

use super::*;

/// Subject fields that mix ASCII letters with letters of another script: almost always a
/// look-alike typed by mistake, and Roles Anywhere matches subjects exactly.
pub(crate) fn subject_characters(cx: &mut Checker, at: &Path, s: &crate::plan::types::Subject) {
    let fields = [
        ("common_name", Some(&s.common_name)),
        ("organization", s.organization.as_ref()),
        ("organizational_unit", s.organizational_unit.as_ref()),
        ("country", s.country.as_ref()),
    ];
    for (field, v) in fields {
        let Some(v) = v else { continue };
        let text = known_text(v);
        let ascii_letters = text.chars().any(|c| c.is_ascii_alphabetic());
        let other_letters = text.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
        if ascii_letters && other_letters {
            cx.push(
                Finding::warning(
                    "XP068",
                    format!(
                        "subject {field} `{}` mixes ASCII letters with other scripts{}",
                        crate::diag::excerpt(&text, 64),
                        crate::diag::non_ascii(&text)
                    ),
                )
                .at(cx.value(&at.key("subject").key(field)))
                .hint("a look-alike letter makes a different name: retype it in one script"),
            );
        }
    }
}

/// Key files go inside the plan's state directory, never elsewhere.
pub(crate) fn check_dir(cx: &mut Checker, at: &Path, dir: &str) {
    let (text, complete) = known(dir);
    if !complete || !plan::confined(&text) {
        cx.push(
            Finding::error(
                "XP066",
                format!(
                    "dir `{}` is not a relative path inside the plan's state directory",
                    crate::diag::excerpt(dir, 80)
                ),
            )
            .at(cx.value(at))
            .hint("give a relative directory without `..` (e.g. `pki/ca`); it is placed under the state directory"),
        );
    }
}

pub(crate) fn key_spec(cx: &mut Checker, at: &Path, k: &KeySpec) {
    match k.algorithm {
        KeyAlgorithm::Rsa if !matches!(k.bits, None | Some(2048 | 3072 | 4096)) => {
            cx.push(
                Finding::error(
                    "XP063",
                    format!("RSA keys of {} bits are not supported", k.bits.unwrap_or(0)),
                )
                .at(cx.value(&at.key("bits")))
                .hint("bits: 2048, 3072 or 4096"),
            );
        }
        KeyAlgorithm::Ecdsa if k.bits.is_some() => {
            cx.push(
                Finding::error("XP063", "ECDSA keys take `curve`, not `bits`")
                    .at(cx.key(&at.key("bits")))
                    .hint("curve: p256 or p384"),
            );
        }
        _ => {}
    }
}

/// A CA the user brings gets the checks CreateTrustAnchor applies, before any API call.
pub(crate) fn check_ca_file(cx: &mut Checker, at: &Path, file: &str, base: &FsPath) {
    let (file, complete) = known(file);
    if !complete {
        return;
    }
    let path = base.join(&*file);
    let pem = match crate::input::read("CA certificate", &path, crate::input::MAX_PEM) {
        Ok(b) => b,
        Err(e) => {
            cx.push(
                Finding::error("XP056", e.to_string())
                    .at(cx.value(at))
                    .hint("give a PEM file path relative to the plan"),
            );
            return;
        }
    };
    match crate::pki::ca_problems(&pem) {
        Ok(problems) => {
            for p in problems {
                cx.push(Finding::error("XP056", format!("{}: {p}", path.display())).at(cx.value(at)).hint("a trust anchor CA needs X.509 v3 with basicConstraints CA:TRUE and keyUsage keyCertSign"));
            }
        }
        Err(e) => cx.push(
            Finding::error("XP056", format!("{}: {e}", path.display()))
                .at(cx.value(at))
                .hint("give a PEM-encoded X.509 certificate"),
        ),
    }
}
