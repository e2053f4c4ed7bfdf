//! What the fuzz targets in `fuzz/` call (feature `fuzzing`, never in a
//! release): the header encoder, the ready-made message reader and the
//! configuration loader, which are otherwise private to the crate.

pub use crate::message::header::{encode_words, header, unstructured, Mailbox};
pub use crate::message::ready::{load as load_ready, LoadOptions, Ready};
pub use crate::settings::config::{parse as parse_config, Config, ConfigFile};

/// Whether the message asks for 8BITMIME (octets over 127 outside base64).
pub fn eight_bit(message: &crate::Message) -> bool {
    message.eight_bit
}
