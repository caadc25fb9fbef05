//! Reading an object file from disk, with the checks untrusted paths need.

use super::{MAX_OBJECT_FILE, ObjError};

/// Reads the whole regular file at `path`, of at most [`MAX_OBJECT_FILE`]
/// bytes (declared or while reading), with `std::fs` alone.
///
/// The path's metadata is checked before it is opened, so a FIFO (which
/// would block the open) or a device (`/dev/zero` would be read until
/// memory runs out) is refused without being opened; the open file is
/// checked again, so a path swapped for a device after the first look is
/// refused too. A lookup that fails is left to the open to report.
pub(super) fn read_object_file(path: &std::path::Path) -> Result<Vec<u8>, ObjError> {
    use std::io::Read;
    let check = |meta: &std::fs::Metadata| -> Result<(), ObjError> {
        let t = meta.file_type();
        if !t.is_file() {
            return Err(ObjError::NotRegular {
                path: path.to_path_buf(),
                kind: crate::abi::file_type_name(t),
            });
        }
        if meta.len() > MAX_OBJECT_FILE {
            return Err(ObjError::TooLarge {
                path: path.to_path_buf(),
                size: meta.len(),
            });
        }
        Ok(())
    };
    let io = |call: &'static str, e: std::io::Error| ObjError::Io {
        call,
        path: path.to_path_buf(),
        kind: e.kind(),
        os_error: e.raw_os_error(),
        message: e.to_string(),
    };
    if let Ok(meta) = std::fs::metadata(path) {
        check(&meta)?;
    }
    // O_NONBLOCK: a path swapped for a FIFO after the check above opens
    // without waiting for a writer, and is then refused as not regular.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(crate::abi::O_NONBLOCK)
            .open(path)
            .map_err(|e| io("open", e))?
    };
    let meta = file.metadata().map_err(|e| io("fstat", e))?;
    check(&meta)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_OBJECT_FILE.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io("read", e))?;
    let size = bytes.len() as u64;
    if size > MAX_OBJECT_FILE {
        return Err(ObjError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    Ok(bytes)
}
