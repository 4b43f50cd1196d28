//! The TEA cipher as TarsCpp's `TC_Tea` uses it: 16 rounds on 8-byte big-endian blocks with a
//! 16-byte key, chained over a buffer laid out as
//! `pad length (low 3 bits of 1 byte) | 0–7 padding | 2 salt | body | 7 zero bytes`, each
//! block XOR-ed with the previous ciphertext before and with the previous plaintext after
//! the block cipher. The padding and salt bytes are random; the length is a multiple of 8.

const DELTA: u32 = 0x9e37_79b9;
const ROUNDS: u32 = 16;
const SALT: usize = 2;
const ZEROS: usize = 7;

fn words(b: &[u8]) -> (u32, u32) {
    (
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    )
}

fn key_words(key: &[u8; 16]) -> [u32; 4] {
    let mut k = [0u32; 4];
    for (i, w) in k.iter_mut().enumerate() {
        *w = u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]]);
    }
    k
}

fn encrypt_block(block: [u8; 8], k: &[u32; 4]) -> [u8; 8] {
    let (mut y, mut z) = words(&block);
    let mut sum = 0u32;
    for _ in 0..ROUNDS {
        sum = sum.wrapping_add(DELTA);
        y = y.wrapping_add(
            (z << 4).wrapping_add(k[0]) ^ z.wrapping_add(sum) ^ (z >> 5).wrapping_add(k[1]),
        );
        z = z.wrapping_add(
            (y << 4).wrapping_add(k[2]) ^ y.wrapping_add(sum) ^ (y >> 5).wrapping_add(k[3]),
        );
    }
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&y.to_be_bytes());
    out[4..].copy_from_slice(&z.to_be_bytes());
    out
}

fn decrypt_block(block: [u8; 8], k: &[u32; 4]) -> [u8; 8] {
    let (mut y, mut z) = words(&block);
    let mut sum = DELTA.wrapping_mul(ROUNDS);
    for _ in 0..ROUNDS {
        z = z.wrapping_sub(
            (y << 4).wrapping_add(k[2]) ^ y.wrapping_add(sum) ^ (y >> 5).wrapping_add(k[3]),
        );
        y = y.wrapping_sub(
            (z << 4).wrapping_add(k[0]) ^ z.wrapping_add(sum) ^ (z >> 5).wrapping_add(k[1]),
        );
        sum = sum.wrapping_sub(DELTA);
    }
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&y.to_be_bytes());
    out[4..].copy_from_slice(&z.to_be_bytes());
    out
}

fn xor(a: [u8; 8], b: &[u8; 8]) -> [u8; 8] {
    let mut out = a;
    for (o, x) in out.iter_mut().zip(b) {
        *o ^= x;
    }
    out
}

/// Encrypts `body` with `key`; `random` supplies the padding and salt bytes.
pub fn encrypt(key: &[u8; 16], body: &[u8], mut random: impl FnMut() -> u8) -> Vec<u8> {
    let k = key_words(key);
    let unpadded = 1 + SALT + body.len() + ZEROS;
    let pad = (8 - unpadded % 8) % 8;
    let mut plain = Vec::with_capacity(unpadded + pad);
    plain.push((random() & 0xf8) | pad as u8);
    plain.extend((0..pad + SALT).map(|_| random()));
    plain.extend_from_slice(body);
    plain.extend_from_slice(&[0; ZEROS]);
    let mut out = Vec::with_capacity(plain.len());
    let (mut prev_plain, mut prev_cipher) = ([0u8; 8], [0u8; 8]);
    for chunk in plain.chunks_exact(8) {
        let mut block = [0u8; 8];
        block.copy_from_slice(chunk);
        let mixed = xor(block, &prev_cipher);
        let cipher = xor(encrypt_block(mixed, &k), &prev_plain);
        out.extend_from_slice(&cipher);
        prev_plain = mixed;
        prev_cipher = cipher;
    }
    out
}

/// Decrypts what [`encrypt`] made with `key`; `None` when the length, the layout or the zero
/// tail does not check out (a wrong key, say).
pub fn decrypt(key: &[u8; 16], cipher: &[u8]) -> Option<Vec<u8>> {
    if cipher.len() % 8 != 0 || cipher.len() < 16 {
        return None;
    }
    let k = key_words(key);
    let mut plain = Vec::with_capacity(cipher.len());
    let (mut prev_mixed, mut prev_cipher) = ([0u8; 8], [0u8; 8]);
    for chunk in cipher.chunks_exact(8) {
        let mut block = [0u8; 8];
        block.copy_from_slice(chunk);
        let mixed = decrypt_block(xor(block, &prev_mixed), &k);
        plain.extend_from_slice(&xor(mixed, &prev_cipher));
        prev_mixed = mixed;
        prev_cipher = block;
    }
    let pad = (plain[0] & 0x07) as usize;
    let start = 1 + pad + SALT;
    let end = plain.len().checked_sub(ZEROS)?;
    if start > end || plain[end..].iter().any(|b| *b != 0) {
        return None;
    }
    Some(plain[start..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length_and_refuses_a_wrong_key() {
        let key = *b"0123456789abcdef";
        let mut n = 7u8;
        let mut random = move || {
            n = n.wrapping_mul(31).wrapping_add(17);
            n
        };
        for len in 0..40usize {
            let body: Vec<u8> = (0..len as u8).collect();
            let c = encrypt(&key, &body, &mut random);
            assert_eq!(c.len() % 8, 0);
            assert_eq!(c.len(), (1 + 2 + len + 7).div_ceil(8) * 8);
            assert_eq!(
                decrypt(&key, &c).as_deref(),
                Some(&body[..]),
                "length {len}"
            );
            assert_eq!(decrypt(b"fedcba9876543210", &c), None, "length {len}");
        }
        assert_eq!(decrypt(&key, &[0; 12]), None);
    }

    /// One block by hand: the first block's plaintext goes through the block cipher as is
    /// (zero IVs), so its ciphertext is TEA-16 of it; checked against the rounds written out.
    #[test]
    fn the_first_block_is_tea_16_of_the_layout() {
        let key = [0u8; 16];
        let c = encrypt(&key, b"", || 0);
        // Body 0: 1 + 2 + 7 = 10 bytes, padded by 6: pad length 6 in the first byte.
        let first = [6u8, 0, 0, 0, 0, 0, 0, 0];
        let (mut y, mut z) = (0x0600_0000u32, 0u32);
        let mut sum = 0u32;
        for _ in 0..16 {
            sum = sum.wrapping_add(0x9e37_79b9);
            y = y.wrapping_add((z << 4) ^ z.wrapping_add(sum) ^ (z >> 5));
            z = z.wrapping_add((y << 4) ^ y.wrapping_add(sum) ^ (y >> 5));
        }
        let mut expected = [0u8; 8];
        expected[..4].copy_from_slice(&y.to_be_bytes());
        expected[4..].copy_from_slice(&z.to_be_bytes());
        assert_eq!(words(&first), (0x0600_0000, 0));
        assert_eq!(&c[..8], &expected);
        assert_eq!(c.len(), 16);
    }
}
