package sesmail

import (
	"encoding/json"
	"fmt"

	"github.com/postiemail/postie/internal/redact"
)

// printedOptions is Options as it prints, logs and marshals: the credentials provider
// and the HTTP client by their types only, since a static provider holds the secret
// access key and the session token as plain fields.
type printedOptions struct {
	ConfigurationSetName string
	Region               string
	BaseEndpoint         string
	HTTPClient           string
	Credentials          string
}

func (o Options) printed() printedOptions {
	p := printedOptions{ConfigurationSetName: o.ConfigurationSetName, Region: o.Region, BaseEndpoint: o.BaseEndpoint}
	if o.HTTPClient != nil {
		p.HTTPClient = fmt.Sprintf("%T", o.HTTPClient)
	}
	if o.Credentials != nil {
		p.Credentials = fmt.Sprintf("%s %T", redact.Redacted, o.Credentials)
	}
	return p
}

// Format prints the options with the credentials redacted, for every verb (and slog's
// text handler); MarshalJSON encodes them so (and slog's JSON handler).
func (o Options) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "sesmail.Options", o.printed())
}

func (o Options) MarshalJSON() ([]byte, error) { return json.Marshal(o.printed()) }
