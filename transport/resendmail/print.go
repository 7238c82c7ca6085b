package resendmail

import (
	"encoding/json"
	"fmt"

	"github.com/postiemail/postie/internal/redact"
)

// printedOptions is Options as it prints, logs and marshals: the API key masked.
type printedOptions Options

func (o Options) printed() printedOptions {
	o.APIKey = redact.Mask(o.APIKey)
	return printedOptions(o)
}

// Format prints the options with the API key redacted, for every verb (and slog's text
// handler); MarshalJSON encodes them so (and slog's JSON handler).
func (o Options) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "resendmail.Options", o.printed())
}

func (o Options) MarshalJSON() ([]byte, error) { return json.Marshal(o.printed()) }
