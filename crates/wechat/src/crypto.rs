//! Safe mode (安全模式): AES-256-CBC, key = base64(EncodingAESKey + "="), IV =
//! the key's first 16 bytes, padding PKCS#7 to a 32-byte block (WeChat's
//! choice, not AES's 16). The plaintext is
//! `random(16) ‖ len(4, big-endian) ‖ message ‖ app_id`.

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use crate::WeChatError;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// WeChat's 43-character keys are not canonical base64 (the last symbol
/// carries bits past the 32nd byte), so the key alone is decoded leniently.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// WeChat pads to multiples of this many bytes.
const PAD_BLOCK: usize = 32;

/// One account's safe-mode cipher.
#[derive(Clone)]
pub struct MsgCrypt {
    key: [u8; 32],
    app_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("MsgCrypt")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl MsgCrypt {
    /// `encoding_aes_key` is the 43-character key from the WeChat admin page.
    pub fn new(encoding_aes_key: &str, app_id: &str) -> Result<Self, WeChatError> {
        if encoding_aes_key.len() != 43 {
            return Err(WeChatError::BadAesKey(encoding_aes_key.len()));
        }
        let bytes = KEY_BASE64
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| WeChatError::BadAesKey(encoding_aes_key.len()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| WeChatError::BadAesKey(encoding_aes_key.len()))?;
        Ok(Self {
            key,
            app_id: app_id.to_string(),
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Encrypts `message` for WeChat; `random` must be fresh random bytes.
    pub fn encrypt(&self, message: &str, random: [u8; 16]) -> String {
        let mut buf = Vec::with_capacity(message.len() + self.app_id.len() + 52);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&(message.len() as u32).to_be_bytes());
        buf.extend_from_slice(message.as_bytes());
        buf.extend_from_slice(self.app_id.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        let len = buf.len();
        let encrypted = Enc::new(&self.key.into(), &self.iv().into())
            .encrypt_padded::<NoPadding>(&mut buf, len)
            .map(|c| STANDARD.encode(c));
        // The buffer is a whole number of blocks by construction.
        encrypted.unwrap_or_default()
    }

    /// Decrypts a payload; returns the message once the app id inside matches
    /// this account's.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, WeChatError> {
        let (message, app_id) = self.decrypt_any(encrypted)?;
        if app_id != self.app_id {
            return Err(WeChatError::WrongAppId {
                expected: self.app_id.clone(),
                found: app_id,
            });
        }
        Ok(message)
    }

    /// Decrypts without checking the app id; returns (message, app id).
    pub fn decrypt_any(&self, encrypted: &str) -> Result<(String, String), WeChatError> {
        let mut buf = STANDARD
            .decode(encrypted.trim())
            .map_err(|_| WeChatError::NotBase64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(WeChatError::Decrypt(
                "length is not a whole number of AES blocks",
            ));
        }
        let plain = Dec::new(&self.key.into(), &self.iv().into())
            .decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| WeChatError::Decrypt("bad block structure"))?;
        let pad = usize::from(*plain.last().ok_or(WeChatError::Decrypt("empty"))?);
        if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
            return Err(WeChatError::Decrypt("bad padding (wrong EncodingAESKey?)"));
        }
        let body = &plain[..plain.len() - pad];
        let len_bytes: [u8; 4] = body
            .get(16..20)
            .and_then(|s| s.try_into().ok())
            .ok_or(WeChatError::Decrypt("too short"))?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let message = body
            .get(20..20 + len)
            .ok_or(WeChatError::Decrypt("declared length exceeds the payload"))?;
        let app_id = body
            .get(20 + len..)
            .ok_or(WeChatError::Decrypt("no app id"))?;
        let message = String::from_utf8(message.to_vec())
            .map_err(|_| WeChatError::Decrypt("message is not UTF-8"))?;
        let app_id = String::from_utf8(app_id.to_vec())
            .map_err(|_| WeChatError::Decrypt("app id is not UTF-8"))?;
        Ok((message, app_id))
    }
}
