//! Reading a certificate chain and its private key from PEM files, as
//! certbot writes them (`fullchain.pem`, `privkey.pem`).
//!
//! Errors are one sentence naming the file and what is wrong with it. They
//! never quote the key file's contents: a PEM syntax error is reported by
//! kind only.

use std::path::Path;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The chain in `cert` with the key in `key`, checked to belong together.
pub(super) fn certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = read_chain(cert)?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "the TLS key file {} holds no PEM private key",
            key.display()
        ),
        e => pem_problem("key", key, &e),
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "the TLS key file {} does not belong to the certificate in {}",
            key.display(),
            cert.display()
        ),
        e => format!(
            "the TLS key file {} is not a usable private key ({e})",
            key.display()
        ),
    })
}

fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_problem("certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(format!(
            "the TLS certificate file {} holds no PEM certificate",
            cert.display()
        ));
    }
    Ok(chain)
}

/// What went wrong with a PEM file, without any of its contents.
fn pem_problem(what: &str, path: &Path, e: &pem::Error) -> String {
    match e {
        pem::Error::Io(e) => format!("cannot read the TLS {what} file {}: {e}", path.display()),
        _ => format!("the TLS {what} file {} is not valid PEM", path.display()),
    }
}
