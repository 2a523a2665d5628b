//! A JSON array read as it arrives, element by element: each element is handed over as soon as
//! its last byte is in, so the caller can decode it and the body is never held whole.
//!
//! Why: the engine's container list of a host with 10,000 containers is 7 MB of JSON, most of
//! it fields nothing here reads (labels, commands, ports, mounts' paths). Held whole while it
//! is decoded, it was the biggest single block of a doctor run's memory. Split here, only one
//! element (a few hundred bytes) is ever buffered.
//!
//! The splitter knows just enough JSON to find where a top-level element ends — strings with
//! their escapes, and nesting — and leaves everything else (is the element itself valid?) to
//! the decoder it hands the element to. What it does check is the frame: one array, elements
//! separated by commas, nothing after the closing bracket — and the size of each element, so
//! that an engine that sends one endless string cannot make dockhand hold it.

/// The longest element [`ArraySplitter::default`] accepts. The engine's list elements are a few
/// hundred bytes to a few kilobytes (a container with many labels); one this long means the
/// answer is not a list of records at all. The same bound as a line of a JSON-lines stream.
pub const MAX_ELEMENT: usize = 16 * 1024 * 1024;

/// Where the splitter is in the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the opening `[`.
    Start,
    /// Right after `[`: an element or `]`.
    First,
    /// After a `,`: an element.
    Next,
    /// Inside an element.
    Elem,
    /// After an element: `,` or `]`.
    After,
    /// After the closing `]`.
    End,
}

/// Splits a JSON array fed in arbitrary pieces into its top-level elements.
#[derive(Debug)]
pub struct ArraySplitter {
    at: At,
    /// Nesting depth inside the current element (0 for a scalar element).
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The current element is a number, `true`, `false` or `null`: it ends at a delimiter.
    scalar: bool,
    /// The bytes of an element that began in an earlier piece.
    carry: Vec<u8>,
    /// The longest element accepted, in bytes.
    limit: usize,
}

impl Default for ArraySplitter {
    fn default() -> Self {
        ArraySplitter::with_limit(MAX_ELEMENT)
    }
}

impl ArraySplitter {
    /// A splitter that refuses any element longer than `limit` bytes.
    pub fn with_limit(limit: usize) -> ArraySplitter {
        ArraySplitter {
            at: At::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: false,
            carry: Vec::new(),
            limit,
        }
    }

    #[cfg(any(test, fuzzing))]
    /// How many bytes of an unfinished element it holds: never more than its limit.
    pub fn buffered(&self) -> usize {
        self.carry.len()
    }

    /// Feeds the next piece of the body; `elem` gets each element completed in it, in order.
    /// An error from `elem` stops the feed and is returned; a malformed frame is an error
    /// sentence.
    pub fn feed<E>(
        &mut self,
        piece: &[u8],
        mut elem: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Fault<E>> {
        // Where the current element's bytes begin in this piece.
        let mut begin = 0;
        let mut i = 0;
        while i < piece.len() {
            let b = piece[i];
            match self.at {
                At::Start | At::First | At::Next | At::After | At::End
                    if b.is_ascii_whitespace() => {}
                At::Start if b == b'[' => self.at = At::First,
                At::Start => return Err(Fault::Frame("the body is not a JSON array")),
                At::First if b == b']' => self.at = At::End,
                At::First | At::Next => {
                    self.at = At::Elem;
                    self.depth = 0;
                    self.in_string = false;
                    self.escaped = false;
                    self.scalar = false;
                    begin = i;
                    match b {
                        b'{' | b'[' => self.depth = 1,
                        b'"' => self.in_string = true,
                        b',' | b']' | b'}' | b':' => {
                            return Err(Fault::Frame("an array element is missing"));
                        }
                        _ => self.scalar = true,
                    }
                }
                At::Elem => {
                    if self.in_string {
                        // Skip to the next quote or backslash: most of the body is string bytes.
                        if self.escaped {
                            self.escaped = false;
                        } else {
                            match memchr::memchr2(b'"', b'\\', &piece[i..]) {
                                None => {
                                    i = piece.len();
                                    continue;
                                }
                                Some(off) => {
                                    i += off;
                                    if piece[i] == b'\\' {
                                        self.escaped = true;
                                    } else {
                                        self.in_string = false;
                                        if self.depth == 0 {
                                            self.complete(piece, begin, i + 1, &mut elem)?;
                                        }
                                    }
                                }
                            }
                        }
                    } else if self.scalar {
                        if b == b',' || b == b']' || b.is_ascii_whitespace() {
                            self.complete(piece, begin, i, &mut elem)?;
                            // The delimiter belongs to the frame: read it again there.
                            continue;
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    self.complete(piece, begin, i + 1, &mut elem)?;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                At::After if b == b',' => self.at = At::Next,
                At::After if b == b']' => self.at = At::End,
                At::After => {
                    return Err(Fault::Frame("array elements are not separated by commas"));
                }
                At::End => return Err(Fault::Frame("there is more after the array's end")),
            }
            i += 1;
        }
        if self.at == At::Elem {
            if self.carry.len() + (piece.len() - begin) > self.limit {
                return Err(self.too_long());
            }
            self.carry.extend_from_slice(&piece[begin..]);
        }
        Ok(())
    }

    /// An element over the limit: the carry is given back, and the split is over.
    fn too_long<E>(&mut self) -> Fault<E> {
        self.carry = Vec::new();
        Fault::Frame("an array element is longer than 16 MiB; the answer is not a list of records")
    }

    /// The element that ends just before `end` in `piece` is whole: hand it over.
    fn complete<E>(
        &mut self,
        piece: &[u8],
        begin: usize,
        end: usize,
        elem: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Fault<E>> {
        // Checked here too, so that an element is refused however the body was cut.
        if self.carry.len() + (end - begin) > self.limit {
            return Err(self.too_long());
        }
        self.at = At::After;
        let r = if self.carry.is_empty() {
            elem(&piece[begin..end])
        } else {
            self.carry.extend_from_slice(&piece[begin..end]);
            let r = elem(&self.carry);
            self.carry.clear();
            r
        };
        r.map_err(Fault::Elem)
    }

    /// The body has ended: why not, unless the array was closed.
    pub fn finish(&self) -> Result<(), &'static str> {
        match self.at {
            At::End => Ok(()),
            At::Start => Err("the body is empty, not a JSON array"),
            _ => Err("the body ended before the array did"),
        }
    }
}

/// Why a split failed: the array's frame, or the caller's own error for one element.
#[derive(Debug, PartialEq)]
pub enum Fault<E> {
    Frame(&'static str),
    Elem(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split = Result<Vec<String>, Fault<()>>;

    /// Splits `body` fed in pieces of `n` bytes.
    fn split(body: &str, n: usize) -> Split {
        let mut s = ArraySplitter::default();
        let mut out = Vec::new();
        for piece in body.as_bytes().chunks(n.max(1)) {
            s.feed(piece, |e| {
                out.push(String::from_utf8(e.to_vec()).expect("utf-8"));
                Ok::<(), ()>(())
            })?;
        }
        s.finish().map_err(Fault::Frame)?;
        Ok(out)
    }

    #[test]
    fn elements_come_out_whole_however_the_body_is_cut() {
        let body = r#" [ {"Id":"a","Names":["/x"],"Labels":{"k":"v ] } ,"}},
            {"Id":"b\"}","Mounts":[{"Name":"v"}]} , "str\\", 12, -3.5e2,true ,null,[1,[2]],{} ] "#;
        let want = vec![
            r#"{"Id":"a","Names":["/x"],"Labels":{"k":"v ] } ,"}}"#,
            r#"{"Id":"b\"}","Mounts":[{"Name":"v"}]}"#,
            r#""str\\""#,
            "12",
            "-3.5e2",
            "true",
            "null",
            "[1,[2]]",
            "{}",
        ];
        for n in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(split(body, n).expect("splits"), want, "pieces of {n}");
        }
    }

    #[test]
    fn empty_arrays_and_bad_frames() {
        let cases: Vec<(&str, Split)> = vec![
            ("[]", Ok(vec![])),
            (" [ \n ] \n", Ok(vec![])),
            ("", Err(Fault::Frame("the body is empty, not a JSON array"))),
            ("{}", Err(Fault::Frame("the body is not a JSON array"))),
            (
                "[{}",
                Err(Fault::Frame("the body ended before the array did")),
            ),
            (
                "[{},",
                Err(Fault::Frame("the body ended before the array did")),
            ),
            (
                "[{} {}]",
                Err(Fault::Frame("array elements are not separated by commas")),
            ),
            ("[{},]", Err(Fault::Frame("an array element is missing"))),
            ("[,{}]", Err(Fault::Frame("an array element is missing"))),
            (
                "[{}] x",
                Err(Fault::Frame("there is more after the array's end")),
            ),
        ];
        for (body, want) in cases {
            for n in [1, 3, 100] {
                assert_eq!(split(body, n), want, "{body:?} in pieces of {n}");
            }
        }
    }

    #[test]
    fn an_elements_own_error_stops_the_split() {
        let mut s = ArraySplitter::default();
        let mut seen = 0;
        let r = s.feed(b"[1,2,3]", |e| {
            seen += 1;
            if e == b"2" { Err("two") } else { Ok(()) }
        });
        assert_eq!(r, Err(Fault::Elem("two")));
        assert_eq!(seen, 2);
    }

    /// An engine that streams one endless string (1 GiB here) gets one sentence, after at most
    /// the element limit was held: the splitter never buffers more than MAX_ELEMENT bytes.
    #[test]
    fn an_endless_element_is_refused_with_bounded_memory() {
        let mut s = ArraySplitter::default();
        let piece = vec![b'a'; 64 * 1024];
        let mut fed = 0usize;
        let mut r = s.feed(b"[{\"Id\":\"", |_| Ok::<(), ()>(()));
        while r.is_ok() && fed < 1 << 30 {
            r = s.feed(&piece, |_| Ok::<(), ()>(()));
            fed += piece.len();
            assert!(s.buffered() <= MAX_ELEMENT);
        }
        assert_eq!(
            r,
            Err(Fault::Frame(
                "an array element is longer than 16 MiB; the answer is not a list of records"
            ))
        );
        assert!(
            fed <= MAX_ELEMENT + piece.len(),
            "fed {fed} bytes before refusing"
        );
        assert_eq!(s.buffered(), 0, "the carry is given back");
    }

    /// The limit holds however the body is cut: in one piece (no carry at all) too.
    #[test]
    fn the_element_limit_holds_in_one_piece_and_in_many() {
        let body = br#"[1,"abcdef",2]"#;
        for n in [1, 3, body.len()] {
            let mut s = ArraySplitter::with_limit(7);
            let mut got = Vec::new();
            let mut r = Ok(());
            for piece in body.chunks(n) {
                r = s.feed(piece, |e| {
                    got.push(e.to_vec());
                    Ok::<(), ()>(())
                });
                if r.is_err() {
                    break;
                }
            }
            assert!(matches!(r, Err(Fault::Frame(_))), "pieces of {n}");
            assert_eq!(got, vec![b"1".to_vec()], "pieces of {n}");
            let mut s = ArraySplitter::with_limit(8);
            assert_eq!(s.feed(body, |_| Ok::<(), ()>(())), Ok(()), "a limit of 8");
        }
    }
}
