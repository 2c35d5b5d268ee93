//! Secure Privacy's field names, as documented. The decoder matches them
//! case-insensitively; failures name them in this spelling.

/// `ConsentGiven`: `All` / `Partial` / `None` (a boolean in the list filter).
pub const CONSENT_GIVEN: &str = "ConsentGiven";
/// `CustomUserId`: the client's own id for the person.
pub const CUSTOM_USER_ID: &str = "CustomUserId";
/// `ClientId`: Secure Privacy's id for the person, consentd's subject id.
pub const CLIENT_ID: &str = "ClientId";
/// `URI`: where the consent was given.
pub const URI: &str = "URI";
/// `Metadata`: the consent object as text, at most 200 characters.
pub const METADATA: &str = "Metadata";
/// `Reference`: the consent target.
pub const REFERENCE: &str = "Reference";
/// `ConsentType`: the customer-defined type of consent (the purpose).
pub const CONSENT_TYPE: &str = "ConsentType";
/// `IntegrationId`: the integration that records without a key.
pub const INTEGRATION_ID: &str = "IntegrationId";
/// `WebhookUrl`: where a subscription's notifications go.
pub const WEBHOOK_URL: &str = "WebhookUrl";
/// `FromDate`: the list's inclusive lower bound.
pub const FROM_DATE: &str = "FromDate";
/// `ToDate`: the list's inclusive upper bound.
pub const TO_DATE: &str = "ToDate";
/// `IP`: the list's IP filter.
pub const IP: &str = "IP";
/// `UserAgent`: the list's user-agent filter.
pub const USER_AGENT: &str = "UserAgent";
/// `City`: the list's city filter.
pub const CITY: &str = "City";
/// `State`: the list's state (region) filter.
pub const STATE: &str = "State";
/// `Country`: the list's country filter.
pub const COUNTRY: &str = "Country";
/// `PageSize`: consentd's paging extension to the list.
pub const PAGE_SIZE: &str = "PageSize";
/// `PageToken`: consentd's paging extension to the list.
pub const PAGE_TOKEN: &str = "PageToken";
/// The request body as a whole.
pub const BODY: &str = "body";
/// The `User-Agent` header, which becomes the records' evidence.
pub const USER_AGENT_HEADER: &str = "User-Agent";
