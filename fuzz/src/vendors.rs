//! Each vendor's dictionary and valid request bodies (after the vendors'
//! documented examples), for the structure-aware inputs.

use crate::adapter::Vendor;
use crate::json::Dict;

/// Values every vendor's fields may meet.
macro_rules! common_values {
    () => {
        [
            "",
            " ",
            "email",
            "user@example.com",
            " A@Example.COM ",
            "application/json",
            "application/json; charset=utf-8",
            "Bearer k.s",
            "https://shop.example/page",
            "http://127.0.0.1:9/hook",
            "203.0.113.7",
            "eeeef9fc-2711-5531-ab1a-6e44153cdafc",
            "d40cfeb0-9526-43d7-96d3-02d5ae65df67",
            "2026-11-30T10:46:01Z",
            "2026-11-30",
            "2026-11-30T10:46:01",
            "2026-11-30T10:46:01.123456+01:00",
            "0",
            "-1",
            "1e400",
            "9223372036854775807",
            "18446744073709551616",
            "null",
            "true",
            "false",
            "{}",
            "[]",
        ]
    };
}

const fn concat<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

const COMMON: [&str; 27] = common_values!();

const ADOBE_VALUES: [&str; 27 + 6] = concat(
    COMMON,
    ["ECID", "email", "Email_LC_SHA256", "443636576799758681021090721276", "IMSORG@AdobeOrg", "9email"],
);

/// Adobe Privacy Service `/consent`.
pub const ADOBE: Vendor = Vendor {
    dict: Dict {
        keys: &["optOutOfSale", "entities", "nameSpace", "namespace", "values"],
        values: &ADOBE_VALUES,
    },
    templates: &[
        r#"{"optOutOfSale":true,"entities":[{"nameSpace":"email","values":["dsmith@acme.com","ajones@acme.com"]},{"nameSpace":"ECID","values":["443636576799758681021090721276"]}]}"#,
        r#"{"optOutOfSale":false,"entities":[{"namespace":"email","values":["A@B.c"," a@b.C "]}]}"#,
    ],
};

const INTEMPT_VALUES: [&str; 27 + 8] = concat(
    COMMON,
    ["accept", "reject", "unlimited", "UNLIMITED", "desktop", "mobile", "analytics", "1769518152000"],
);

/// Intempt consents.
pub const INTEMPT: Vendor = Vendor {
    dict: Dict {
        keys: &[
            "action",
            "timestamp",
            "validUntil",
            "source",
            "category",
            "userId",
            "email",
            "profileId",
            "message",
            "sourceId",
            "reason",
            "deviceInfo",
        ],
        values: &INTEMPT_VALUES,
    },
    templates: &[
        r#"{"action":"accept","timestamp":1769518152000,"validUntil":1801054152000,"source":"desktop","category":"analytics","sourceId":0,"userId":"user@example.com","email":"user@example.com","message":"User accepted analytics consent on cookie banner"}"#,
        r#"{"action":"reject","timestamp":"1769518152","validUntil":"unlimited","source":"mobile","category":"marketing","profileId":"p-1"}"#,
    ],
};

const JENTIS_VALUES: [&str; 27 + 7] =
    concat(COMMON, ["ncm", "http-api", "jts_push_submit", "ckion-demo", "live", "ga4", "new"]);

/// JENTIS consent submissions.
pub const JENTIS: Vendor = Vendor {
    dict: Dict {
        keys: &[
            "version",
            "system",
            "type",
            "timestamp",
            "navigator-userAgent",
            "initiator",
            "href",
            "configuration",
            "container",
            "environment",
            "data",
            "identifier",
            "user",
            "id",
            "consent",
            "lastupdate",
            "vendors",
            "vendorsChanged",
            "send",
            "userconsent",
            "action",
            "ga4",
            "requestType",
            "domain",
            "debugcode",
        ],
        values: &JENTIS_VALUES,
    },
    templates: &[
        r#"{"version":3,"system":{"type":"http-api","timestamp":1655704922774,"navigator-userAgent":"Mozilla/5.0","initiator":"jts_push_submit","href":"https://stage-test.jtm-demo.com/?","requestType":"sendBeacon","domain":".jtm-demo.com"},"configuration":{"container":"ckion-demo","environment":"live","version":"3","debugcode":"a675b5f1-48d2-43bf-b314-ba4830cda52d"},"data":{"identifier":{"user":{"id":7.173716454587715e+22,"action":"new"},"consent":{"id":"d40cfeb0-9526-43d7-96d3-02d5ae65df67","action":"new"}},"consent":{"lastupdate":1720611159546,"data":{},"vendors":{"ga4":true},"vendorsChanged":{"ga4":true}}}}"#,
        r#"{"version":"3","system":{"type":"web","timestamp":1655704922774,"navigator-userAgent":"UA","initiator":"x"},"configuration":{"container":"c","environment":"e"},"data":{"identifier":{"user":{"id":"u-1"},"consent":{"id":"d40cfeb0-9526-43d7-96d3-02d5ae65df67"}},"consent":{"lastupdate":1720611159546,"data":{"k":1},"vendors":{"ga4":false,"fb":"ncm","x":true},"vendorsChanged":{},"send":{},"userconsent":true}}}"#,
    ],
};

const SECUREPRIVACY_VALUES: [&str; 27 + 8] = concat(
    COMMON,
    [
        "All",
        "Partial",
        "None",
        "all",
        "jane.doe@example.com",
        "test-drive-booking",
        "Dealership",
        "hubspot-newsletter",
    ],
);

/// Secure Privacy's Universal Consent API.
pub const SECUREPRIVACY: Vendor = Vendor {
    dict: Dict {
        keys: &[
            "ConsentGiven",
            "CustomUserId",
            "ClientId",
            "URI",
            "Metadata",
            "Reference",
            "ConsentType",
            "IntegrationId",
            "WebhookUrl",
            "FromDate",
            "ToDate",
            "IP",
            "UserAgent",
            "City",
            "State",
            "Country",
            "PageSize",
            "PageToken",
        ],
        values: &SECUREPRIVACY_VALUES,
    },
    templates: &[
        r#"{"ConsentGiven":"All","CustomUserId":"jane.doe@example.com","URI":"https://www.northwind-motors.example/test-drive","Metadata":"{\"model\":\"EX30\",\"dealer\":\"Copenhagen\"}","Reference":"test-drive-booking","ConsentType":"Dealership"}"#,
        r#"{"ClientId":"eeeef9fc-2711-5531-ab1a-6e44153cdafc","Reference":"test-drive-booking","ConsentGiven":"None","Metadata":"{\"reason\":\"withdrawn by phone\"}"}"#,
        r#"{"ClientId":"eeeef9fc-2711-5531-ab1a-6e44153cdafc","Reference":"test-drive-booking"}"#,
        r#"{"CustomUserId":"jane.doe@example.com","Reference":"test-drive-booking","ConsentType":"Dealership","FromDate":"2026-11-01T00:00:00","ToDate":"2026-11-30","ConsentGiven":true,"IP":"203.0.113.7","UserAgent":"Mozilla/5.0","City":"Copenhagen","State":"Capital Region","Country":"DK","PageSize":10}"#,
        r#"{"CustomUserId":"jane.doe@example.com","Reference":"test-drive-booking","ConsentType":"Dealership","WebhookUrl":"http://127.0.0.1:9/hooks/consent"}"#,
        r#"{"CustomUserId":"jane.doe@example.com","ConsentGiven":"All","ConsentType":"EmailMarketing"}"#,
    ],
};

const NATIVE_VALUES: [&str; 27 + 8] = concat(
    COMMON,
    ["device_id", "d-1", "marketing", "analytics", "tcf.vendor_consent", "tcf.vendor.755", "pk_0123456789abcdef.s", "subject_id"],
);

/// consentd's own JSON routes: a batch check body (the consent-mode route
/// reads only its query).
pub const NATIVE: Vendor = Vendor {
    dict: Dict {
        keys: &[
            "subject",
            "subject_id",
            "identity",
            "namespace",
            "value",
            "checks",
            "purpose",
            "target",
            "at",
            "min_revision",
            "key",
        ],
        values: &NATIVE_VALUES,
    },
    templates: &[
        r#"{"subject":{"identity":{"namespace":"email","value":"user@example.com"}},"checks":[{"purpose":"marketing"},{"purpose":"analytics","target":"vendor-a"}],"at":"2026-11-30T10:46:01Z","min_revision":"42"}"#,
        r#"{"subject":{"subject_id":"eeeef9fc-2711-5531-ab1a-6e44153cdafc"},"checks":[{"purpose":"tcf.vendor_consent","target":"tcf.vendor.755"}],"min_revision":7}"#,
    ],
};
