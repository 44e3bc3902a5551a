//! Payload digests in the form WARC archives and CDX indexes give them: `sha1:`
//! and the SHA-1 of the payload (the body after content decoding) in base 32. One
//! form for the record's `digest` and the archive's `WARC-Payload-Digest`, so a
//! record can be matched to its archived response, and one crawl's page to the
//! next crawl's.

use data_encoding::BASE32;
use sha1::{Digest, Sha1};

/// The SHA-1 of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// `sha1:` and the digest in base 32, as in `WARC-Payload-Digest`.
pub fn text(sha: &[u8; 20]) -> String {
    format!("sha1:{}", BASE32.encode(sha))
}

#[cfg(test)]
mod tests {
    /// The digest of "hello", as `warcio` and `sha1sum | base32` give it.
    #[test]
    fn the_warc_form() {
        assert_eq!(
            super::text(&super::sha1(b"hello")),
            "sha1:VL2MMHO4YXUKFWV63YHTWSBM3GXKSQ2N"
        );
    }
}
