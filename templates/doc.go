// Package templates renders notifications (a subject, a text and an HTML body) from a set
// of Go templates parsed once at start-up, and applies them to a mailer.Message.
//
// # Files
//
// A Set is read from an fs.FS (usually an embed.FS, trimmed with fs.Sub). Every file whose
// name ends in ".tmpl" is a template; every other file is an asset the HTML may embed.
//
//	welcome.subject.tmpl          the subject (text/template); must render to one line
//	welcome.txt.tmpl              the text body (text/template); optional
//	welcome.html.tmpl             the HTML body (html/template); optional if there is a text body
//	welcome.fr.html.tmpl          a locale variant ("fr", "fr-CA", "pt_BR", ...)
//	auth/reset.html.tmpl          notifications may live in folders: this one is "auth/reset"
//	layouts/default.html.tmpl     an HTML layout: it calls {{template "content" .}}
//	layouts/default.txt.tmpl      the matching text layout (optional)
//	partials/button.html.tmpl     a partial, called as {{template "button" .}}; it may also {{define}} more
//	partials/footer.txt.tmpl      text partials are separate from HTML partials
//	images/logo.png               an asset: <img src="images/logo.png"> becomes an inline part
//
// Names are NAME[.LOCALE].KIND.tmpl with KIND one of subject, txt and html. Partials are
// named by their path under partials/ without the suffix ("button", "email/footer").
//
// # Layouts
//
// A notification's body is the template "content" of its layout. Every HTML and text body
// uses the layout named by Options.Layout ("default" unless set) when that layout exists. A
// body chooses another layout, or none, with a comment at its very start:
//
//	{{/* layout: wide */}}      use layouts/wide.html.tmpl (or .txt.tmpl for a text body)
//	{{/* layout: none */}}      render the body on its own
//
// Layouts declare overridable sections with {{block "name" .}}default{{end}}; a body
// overrides one with {{define "name"}}...{{end}}. A body must not define "content" itself:
// its top-level text is the content. Templates defined later override earlier ones in this
// order: layout, partials, body; two partials defining the same name is an error.
//
// # Locales
//
// Render(name, "fr-CA", data) uses, for every template (body, subject, layout, partial),
// the most specific file along fr-CA, fr, base. A text body is never taken from a less
// specific locale than the HTML body it goes with: when welcome.fr.html.tmpl exists but
// welcome.fr.txt.tmpl does not, the French text is generated from the French HTML.
//
// # HTML processing at start-up
//
// Each HTML body is prepared once, in New, and rendering does no further work on it:
//
//   - CSS in <style> elements is inlined into style attributes with go-premailer. The
//     inliner sees the markup as written, with every {{if}} and {{range}} branch present
//     once; it never touches template actions, because it edits only the literal text
//     between them. Rules it cannot inline (media queries, :hover, ...) stay in a <style>
//     element. A <style> element that contains template actions, or has
//     data-premailer="ignore" or a media other than "all", is left as it is. Classes that a
//     template action produces at render time are not matched.
//   - src (and background) attributes naming an asset of the set, such as
//     src="images/logo.png", are rewritten to "cid:" URLs, and the asset is attached as an
//     inline part when the rendered HTML refers to it. {{embed "images/logo.png"}} does the
//     same for a path computed at render time. Paths are relative to the root of the file
//     system, not to the template's folder. Content-IDs are derived from the asset's path
//     ("logo.png.706ff17a@postie"), so the same set always produces the same ids.
//   - When a notification has no text body, Render derives one from the rendered HTML with
//     HTMLToText.
//
// Templates run with Option("missingkey=error"), and template funcs must not do I/O.
// html/template removes HTML comments from templates, Outlook's conditional comments
// (<!--[if mso]>) included.
package templates
