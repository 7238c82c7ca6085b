package sesmail

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

const (
	testKeyID  = "AKIDPOSTIETEST"
	testSecret = "postie-test-secret-never-printed"
	testRegion = "eu-west-1"
)

// fakeSES checks requests the way SES v2's SendEmail (POST /v2/email/outbound-emails,
// rest-json) does, and answers as it does: 200 {"MessageId":...}, or an error whose code
// is in X-Amzn-ErrorType with {"message":...}. It verifies SigV4 structurally (the
// Authorization header's shape and credential scope, X-Amz-Date) without recomputing the
// signature, decodes Content.Raw.Data and delivers it as Delivery.Raw to Destination.
type fakeSES struct{}

var sigv4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=` + testKeyID + `/\d{8}/` + testRegion +
	`/ses/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$`)

type sesRequest struct {
	FromEmailAddress            *string `json:"FromEmailAddress"`
	FromEmailAddressIdentityArn *string `json:"FromEmailAddressIdentityArn"`
	Destination                 *struct {
		ToAddresses  []string `json:"ToAddresses"`
		CcAddresses  []string `json:"CcAddresses"`
		BccAddresses []string `json:"BccAddresses"`
	} `json:"Destination"`
	ReplyToAddresses                          []string `json:"ReplyToAddresses"`
	FeedbackForwardingEmailAddress            *string  `json:"FeedbackForwardingEmailAddress"`
	FeedbackForwardingEmailAddressIdentityArn *string  `json:"FeedbackForwardingEmailAddressIdentityArn"`
	Content                                   struct {
		Raw *struct {
			Data string `json:"Data"`
		} `json:"Raw"`
		Simple   any `json:"Simple"`
		Template any `json:"Template"`
	} `json:"Content"`
	EmailTags []struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	} `json:"EmailTags"`
	ConfigurationSetName   *string `json:"ConfigurationSetName"`
	ListManagementOptions  any     `json:"ListManagementOptions"`
	EndpointId             *string `json:"EndpointId"`
	TenantName             *string `json:"TenantName"`
	ConfigurationOverrides any     `json:"ConfigurationOverrides"`
}

// sesError is SES's rest-json error answer.
func sesError(status int, code, msg string) *fakeapi.Reply {
	r := fakeapi.JSON(status, map[string]string{"message": msg})
	r.Header.Set("X-Amzn-ErrorType", code+":http://internal.amazon.com/coral/com.amazonaws.sesv2/")
	r.Header.Set("X-Amzn-RequestId", "c5f0d2a1-0000-4000-8000-000000000000")
	return r
}

func (fakeSES) Accept(r *http.Request, body []byte) (transporttest.Delivery, *fakeapi.Reply) {
	var d transporttest.Delivery
	auth := r.Header.Get("Authorization")
	m := sigv4.FindStringSubmatch(auth)
	switch {
	case r.URL.Path != "/v2/email/outbound-emails":
		return d, sesError(404, "NotFoundException", "Unknown operation")
	case r.Method != http.MethodPost:
		return d, sesError(405, "MethodNotAllowed", "method not allowed")
	case m == nil:
		return d, sesError(403, "IncompleteSignatureException", "Authorization header is not a SigV4 signature for "+testKeyID+" in "+testRegion+"/ses")
	case !strings.Contains(";"+m[1]+";", ";host;") || !strings.Contains(";"+m[1]+";", ";x-amz-date;"):
		return d, sesError(403, "IncompleteSignatureException", "host and x-amz-date must be signed")
	case len(r.Header.Get("X-Amz-Date")) != len("20240309T120000Z"):
		return d, sesError(403, "IncompleteSignatureException", "missing X-Amz-Date")
	case fakeapi.MediaType(r) != "application/json":
		return d, sesError(400, "BadRequestException", "Content-Type must be application/json")
	}
	var req sesRequest
	if err := fakeapi.StrictJSON(body, &req); err != nil {
		return d, sesError(400, "SerializationException", err.Error())
	}
	if req.Content.Raw == nil || req.Content.Simple != nil || req.Content.Template != nil {
		return d, sesError(400, "BadRequestException", "this fake expects raw content")
	}
	raw, err := base64.StdEncoding.DecodeString(req.Content.Raw.Data)
	if err != nil {
		return d, sesError(400, "BadRequestException", "Raw.Data is not base64")
	}
	if len(raw) > MaxSize {
		return d, sesError(400, "MessageRejected", "Message length is more than 40 MB")
	}
	if req.Destination == nil {
		return d, sesError(400, "BadRequestException", "this fake expects a Destination")
	}
	for _, l := range [][]string{req.Destination.ToAddresses, req.Destination.CcAddresses, req.Destination.BccAddresses} {
		d.Envelope.To = append(d.Envelope.To, l...)
	}
	if len(d.Envelope.To) == 0 || len(d.Envelope.To) > MaxRecipients {
		return d, sesError(400, "MessageRejected", fmt.Sprintf("Recipient count %d is not between 1 and 50", len(d.Envelope.To)))
	}
	for _, t := range req.EmailTags {
		if t.Name == "" || t.Value == "" {
			return d, sesError(400, "BadRequestException", "message tags need a name and a value")
		}
	}
	d.Envelope.From = fromHeader(raw)
	if req.FeedbackForwardingEmailAddress != nil {
		d.Envelope.From = *req.FeedbackForwardingEmailAddress
	}
	d.Raw = raw
	return d, nil
}

func (fakeSES) Accepted(_ *http.Request, _ []byte, _ transporttest.Delivery, n int) *fakeapi.Reply {
	r := fakeapi.JSON(200, map[string]string{"MessageId": fmt.Sprintf("0102018e2a4c5f7e-%08d-ses", n)})
	r.Header.Set("X-Amzn-RequestId", "c5f0d2a1-0000-4000-8000-000000000001")
	return r
}

func (fakeSES) Refusal(f transporttest.Fault) *fakeapi.Reply {
	switch f.Kind {
	case transporttest.AuthFailed:
		return sesError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
	case transporttest.RateLimited:
		return sesError(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
	case transporttest.ServiceUnavailable:
		return sesError(503, "ServiceUnavailable", "Service is unavailable. Please try again later.")
	}
	return nil // SES refuses no single recipient at send time; suppressed ones are reported as events
}
