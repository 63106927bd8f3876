pub(crate) mod arena;

pub mod stream;
pub use stream::Stream;
