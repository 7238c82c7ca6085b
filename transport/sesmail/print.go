package sesmail

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/postiemail/postie/transport/internal/httpmail"
)

// printedOptions is what String, GoString, LogValue and MarshalJSON show of Options: the
// credentials provider and the HTTP client by their types only, since a static provider
// holds the secret access key and the session token as plain fields.
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
		p.Credentials = fmt.Sprintf("%s %T", httpmail.Redacted, o.Credentials)
	}
	return p
}

// String shows the options with the credentials redacted; %v and %+v print it.
func (o Options) String() string { return fmt.Sprintf("%+v", o.printed()) }

// GoString is String for %#v.
func (o Options) GoString() string { return httpmail.GoString("sesmail.Options", o.printed()) }

// LogValue shows the options to log/slog with the credentials redacted.
func (o Options) LogValue() slog.Value { return slog.AnyValue(o.printed()) }

// MarshalJSON encodes the options with the credentials redacted.
func (o Options) MarshalJSON() ([]byte, error) { return json.Marshal(o.printed()) }
