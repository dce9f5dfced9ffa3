//! Fragment headers: the 7 bytes in front of every piece of a record inside a page.

use super::FRAGMENT_HEADER_SIZE;

/// Bit of the fragment type byte marking a snappy-compressed record.
pub(crate) const SNAPPY_MASK: u8 = 1 << 3;
/// Bit of the fragment type byte marking a zstd-compressed record.
pub(crate) const ZSTD_MASK: u8 = 1 << 4;
/// The type bits proper.
const TYPE_MASK: u8 = SNAPPY_MASK - 1;

/// Which part of a record a fragment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentType {
    /// No fragment: the rest of the page is zero padding.
    PageTerm = 0,
    /// A whole record.
    Full = 1,
    /// The first part of a record.
    First = 2,
    /// A middle part of a record.
    Middle = 3,
    /// The last part of a record.
    Last = 4,
}

impl FragmentType {
    /// The type encoded in the low bits of a header byte, if known.
    pub fn from_header(byte: u8) -> Option<FragmentType> {
        match byte & TYPE_MASK {
            0 => Some(FragmentType::PageTerm),
            1 => Some(FragmentType::Full),
            2 => Some(FragmentType::First),
            3 => Some(FragmentType::Middle),
            4 => Some(FragmentType::Last),
            _ => None,
        }
    }

    /// Whether this fragment ends a record.
    pub fn ends_record(self) -> bool {
        matches!(self, FragmentType::Full | FragmentType::Last)
    }
}

/// Writes a fragment header for `data` into `out[..7]`.
pub(crate) fn put_header(out: &mut [u8], typ: FragmentType, snappy: bool, data: &[u8]) {
    let mut b = typ as u8;
    if snappy {
        b |= SNAPPY_MASK;
    }
    out[0] = b;
    out[1..3].copy_from_slice(&(data.len() as u16).to_be_bytes());
    out[3..FRAGMENT_HEADER_SIZE].copy_from_slice(&crc32c::crc32c(data).to_be_bytes());
}
