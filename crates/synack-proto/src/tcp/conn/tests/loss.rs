//! placeholder
#[allow(unused_imports)]
use super::*;
