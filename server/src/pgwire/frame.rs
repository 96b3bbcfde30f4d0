//! Checks that a frontend message body is well formed before pgwire decodes it.
//!
//! pgwire's decoders read fields without bounds checks (a short Bind or Describe
//! panics inside them) and read past the end of a message into the next one. Every
//! message is checked here against the protocol's grammar first, so a malformed body
//! becomes an error for that message, as in PostgreSQL, and the connection goes on.

/// Why a message body does not match its message type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the message ends early")]
    Truncated,
    #[error("{0} unexpected bytes at the end of the message")]
    TrailingBytes(usize),
    #[error("invalid parameter length {0}")]
    NegativeLength(i32),
    #[error("invalid byte sequence for encoding \"UTF8\"")]
    InvalidUtf8,
}

/// Checks the body (after type byte and length) of a message of type `tag`. Types
/// without a fixed layout, and types pgwire itself rejects, pass.
pub fn check_body(tag: u8, body: &[u8]) -> Result<(), BodyError> {
    let mut r = Reader { bytes: body };
    match tag {
        // Query, CopyFail: one string.
        b'Q' | b'f' => {
            r.cstr()?;
        }
        // Parse: name, query, parameter type OIDs.
        b'P' => {
            r.cstr()?;
            r.cstr()?;
            let types = r.u16()?;
            r.take(usize::from(types) * 4)?;
        }
        // Bind: portal, statement, parameter formats, parameters, result formats.
        b'B' => {
            r.cstr()?;
            r.cstr()?;
            let formats = r.u16()?;
            r.take(usize::from(formats) * 2)?;
            let params = r.u16()?;
            for _ in 0..params {
                match r.i32()? {
                    -1 => {}
                    len if len < 0 => return Err(BodyError::NegativeLength(len)),
                    len => {
                        r.take(len as usize)?;
                    }
                }
            }
            let result_formats = r.u16()?;
            r.take(usize::from(result_formats) * 2)?;
        }
        // Describe, Close: target type and name.
        b'D' | b'C' => {
            r.take(1)?;
            r.cstr()?;
        }
        // Execute: portal and row limit.
        b'E' => {
            r.cstr()?;
            r.i32()?;
        }
        // Sync, Flush, CopyDone, Terminate: no body.
        b'S' | b'H' | b'c' | b'X' => {}
        // CopyData and authentication messages are opaque here; anything else is an
        // unknown type that pgwire refuses.
        _ => return Ok(()),
    }
    r.finish()
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BodyError> {
        if self.bytes.len() < n {
            return Err(BodyError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, BodyError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, BodyError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A NUL-terminated UTF-8 string.
    fn cstr(&mut self) -> Result<&'a str, BodyError> {
        let end = self
            .bytes
            .iter()
            .position(|b| *b == 0)
            .ok_or(BodyError::Truncated)?;
        let s = std::str::from_utf8(&self.bytes[..end]).map_err(|_| BodyError::InvalidUtf8)?;
        self.bytes = &self.bytes[end + 1..];
        Ok(s)
    }

    fn finish(self) -> Result<(), BodyError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(BodyError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(params: &[Option<&[u8]>]) -> Vec<u8> {
        let mut body = b"\0\0".to_vec();
        body.extend(1u16.to_be_bytes());
        body.extend(1i16.to_be_bytes());
        body.extend((params.len() as u16).to_be_bytes());
        for p in params {
            match p {
                None => body.extend((-1i32).to_be_bytes()),
                Some(p) => {
                    body.extend((p.len() as i32).to_be_bytes());
                    body.extend(*p);
                }
            }
        }
        body.extend(0u16.to_be_bytes());
        body
    }

    #[test]
    fn well_formed_messages_pass() {
        assert_eq!(check_body(b'Q', b"SELECT 1\0"), Ok(()));
        assert_eq!(check_body(b'P', b"s1\0SELECT $1\0\0\x01\0\0\0\x17"), Ok(()));
        assert_eq!(
            check_body(b'B', &bind(&[Some(&[0, 0, 0, 1]), None])),
            Ok(())
        );
        assert_eq!(check_body(b'D', b"S\0"), Ok(()));
        assert_eq!(check_body(b'E', b"\0\0\0\0\0"), Ok(()));
        assert_eq!(check_body(b'S', b""), Ok(()));
        assert_eq!(check_body(b'd', b"any bytes \0\xff"), Ok(()));
    }

    #[test]
    fn short_and_overlong_bodies_are_errors() {
        assert_eq!(check_body(b'D', b""), Err(BodyError::Truncated));
        assert_eq!(check_body(b'E', b"\0\0\0"), Err(BodyError::Truncated));
        assert_eq!(check_body(b'Q', b"SELECT 1"), Err(BodyError::Truncated));
        assert_eq!(check_body(b'S', b"x"), Err(BodyError::TrailingBytes(1)));
        assert_eq!(
            check_body(b'Q', b"SELECT 1\0x"),
            Err(BodyError::TrailingBytes(1))
        );
        // Claims a 100-byte parameter that is not there.
        let mut b = bind(&[]);
        b.truncate(b.len() - 4);
        b.extend(1u16.to_be_bytes());
        b.extend(100i32.to_be_bytes());
        assert_eq!(check_body(b'B', &b), Err(BodyError::Truncated));
        // Claims 65535 parameter types and carries none.
        assert_eq!(
            check_body(b'P', b"\0q\0\xff\xff"),
            Err(BodyError::Truncated)
        );
    }

    #[test]
    fn negative_lengths_and_bad_utf8_are_errors() {
        let mut b = bind(&[]);
        b.truncate(b.len() - 4);
        b.extend(1u16.to_be_bytes());
        b.extend((-2i32).to_be_bytes());
        b.extend(0u16.to_be_bytes());
        assert_eq!(check_body(b'B', &b), Err(BodyError::NegativeLength(-2)));
        assert_eq!(
            check_body(b'Q', b"SELECT '\xff'\0"),
            Err(BodyError::InvalidUtf8)
        );
    }
}
