//! TODO(helper): protocol
