//! TODO(helper): transport
