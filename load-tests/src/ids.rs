//! Transfer ids that carry their own index, so a callback finds its transfer's record without a
//! map lookup or a lock: a UUID v4 whose first eight bytes are the run's nonce and whose last
//! eight bytes are the transfer's index. The version and variant bits overwrite four bits of the
//! nonce and two bits of the index, which leaves indexes up to 2^62.

use uuid::Uuid;

/// Bits of the index that survive the variant bits of byte 8.
const INDEX_MASK: u64 = (1 << 62) - 1;
/// Byte 6's high nibble is the version, so only its low nibble belongs to the nonce.
const VERSION_NIBBLE_MASK: u8 = 0x0f;

/// The id space of one run.
#[derive(Debug, Clone, Copy)]
pub struct IdSpace {
    nonce: [u8; 8],
}

impl IdSpace {
    pub fn new(nonce: u64) -> Self {
        Self {
            nonce: nonce.to_be_bytes(),
        }
    }

    /// The id of transfer `index`, lowercase hyphenated as FSPIOP wants it.
    pub fn id(&self, index: u64) -> Uuid {
        assert!(index <= INDEX_MASK, "transfer index {index} out of range");
        let mut bytes = [0_u8; 16];
        bytes[..8].copy_from_slice(&self.nonce);
        bytes[8..].copy_from_slice(&index.to_be_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// The index of a transfer of this run, or `None` for any other id.
    pub fn index_of(&self, id: &str) -> Option<u64> {
        let uuid = Uuid::try_parse(id).ok()?;
        let bytes = uuid.as_bytes();
        let nonce_matches = bytes[..6] == self.nonce[..6]
            && bytes[6] & VERSION_NIBBLE_MASK == self.nonce[6] & VERSION_NIBBLE_MASK
            && bytes[7] == self.nonce[7];
        if !nonce_matches || uuid.get_version_num() != 4 {
            return None;
        }
        let mut index = [0_u8; 8];
        index.copy_from_slice(&bytes[8..]);
        Some(u64::from_be_bytes(index) & INDEX_MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_to_their_index() {
        let space = IdSpace::new(0xdead_beef_0123_4567);
        for index in [0, 1, 2, 255, 65_536, 1 << 40, INDEX_MASK] {
            let id = space.id(index).to_string();
            assert_eq!(id, id.to_lowercase());
            assert_eq!(space.index_of(&id), Some(index), "{id}");
            let parsed: ferroloop_core::id::TransferId = id.parse().expect("a valid FSPIOP id");
            assert_eq!(parsed.as_str(), id);
        }
    }

    #[test]
    fn ids_of_other_runs_are_not_ours() {
        let ours = IdSpace::new(1);
        let theirs = IdSpace::new(2);
        assert_eq!(ours.index_of(&theirs.id(7).to_string()), None);
        assert_eq!(ours.index_of(&Uuid::now_v7().to_string()), None);
        assert_eq!(ours.index_of("not-a-uuid"), None);
    }
}
