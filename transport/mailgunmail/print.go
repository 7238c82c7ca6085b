package mailgunmail

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/postiemail/postie/transport/internal/httpmail"
)

// printedOptions is Options with the API key masked: what String, GoString, LogValue and
// MarshalJSON show. It has no methods, so formatting it prints its fields.
type printedOptions Options

func (o Options) printed() printedOptions {
	o.APIKey = httpmail.Mask(o.APIKey)
	return printedOptions(o)
}

// String shows the options with the API key redacted; %v and %+v print it.
func (o Options) String() string { return fmt.Sprintf("%+v", o.printed()) }

// GoString is String for %#v.
func (o Options) GoString() string { return httpmail.GoString("mailgunmail.Options", o.printed()) }

// LogValue shows the options to log/slog with the API key redacted.
func (o Options) LogValue() slog.Value { return slog.AnyValue(o.printed()) }

// MarshalJSON encodes the options with the API key redacted: JSON output ends up in logs
// and dumps, and the API key belongs in the environment or a secret store.
func (o Options) MarshalJSON() ([]byte, error) { return json.Marshal(o.printed()) }
