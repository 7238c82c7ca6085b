package templates

import (
	"fmt"
	"reflect"
	"text/template/parse"
)

// Typed renders one notification with data of type T: passing data of another type does
// not compile. NewTyped also checks, once, that every field and method the notification's
// templates name on their data ({{.User.Name}}, {{range .Items}}{{.Price}}{{end}}, ...)
// exists in T, so a renamed field fails at start-up instead of at the first send.
type Typed[T any] struct {
	set  *Set
	name string
}

// NewTyped returns the typed renderer of notification name. It fails when the Set has no
// such notification or when a template names a field T does not have. Fields reached
// through an interface, a map or a func result are only known at render time, and are
// not checked.
func NewTyped[T any](s *Set, name string) (*Typed[T], error) {
	byLocale, ok := s.units[name]
	if !ok {
		_, err := s.lookup(name, "")
		return nil, err
	}
	typ := reflect.TypeFor[T]()
	seen := map[*unit]bool{}
	for _, loc := range s.locales {
		u := byLocale[loc]
		if seen[u] {
			continue
		}
		seen[u] = true
		c := &typeChecker{}
		c.run(typ, u.subject.Name(), func(n string) *parse.Tree {
			if t := u.subject.Lookup(n); t != nil {
				return t.Tree
			}
			return nil
		})
		if u.text != nil {
			c.run(typ, u.text.Name(), func(n string) *parse.Tree {
				if t := u.text.Lookup(n); t != nil {
					return t.Tree
				}
				return nil
			})
		}
		if u.html != nil {
			c.run(typ, u.html.Name(), func(n string) *parse.Tree {
				if t := u.html.Lookup(n); t != nil {
					return t.Tree
				}
				return nil
			})
		}
		if c.err != nil {
			return nil, fmt.Errorf("templates: %s does not fit data of type %v: %w", name, typ, c.err)
		}
	}
	return &Typed[T]{set: s, name: name}, nil
}

// Render renders the notification in locale with data; see Set.Render.
func (t *Typed[T]) Render(locale string, data T) (*Rendered, error) {
	return t.set.Render(t.name, locale, data)
}

// Name returns the notification's name.
func (t *Typed[T]) Name() string { return t.name }

// typeChecker follows the type of dot through a template's parse tree. A nil type means
// unknown: nothing under it is checked.
type typeChecker struct {
	lookup  func(string) *parse.Tree
	checked map[string]bool // template name + dot type already walked
	err     error
}

// run checks the template entry of one namespace (subject, text or HTML) with dot typ.
func (c *typeChecker) run(typ reflect.Type, entry string, lookup func(string) *parse.Tree) {
	if c.err != nil {
		return
	}
	c.lookup, c.checked = lookup, map[string]bool{}
	c.template(entry, typ)
}

func (c *typeChecker) template(name string, dot reflect.Type) {
	key := name + "\x00" + fmt.Sprint(dot)
	t := c.lookup(name)
	if c.checked[key] || t == nil || t.Root == nil {
		return
	}
	c.checked[key] = true
	c.list(t, t.Root, dot, dot)
}

func (c *typeChecker) list(t *parse.Tree, l *parse.ListNode, dot, root reflect.Type) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		if c.err != nil {
			return
		}
		switch n := n.(type) {
		case *parse.ActionNode:
			c.pipe(t, n.Pipe, dot, root)
		case *parse.IfNode:
			c.pipe(t, n.Pipe, dot, root)
			c.list(t, n.List, dot, root)
			c.list(t, n.ElseList, dot, root)
		case *parse.WithNode:
			inner := c.pipe(t, n.Pipe, dot, root)
			c.list(t, n.List, indirect(inner), root)
			c.list(t, n.ElseList, dot, root)
		case *parse.RangeNode:
			c.list(t, n.List, elemType(c.pipe(t, n.Pipe, dot, root)), root)
			c.list(t, n.ElseList, dot, root)
		case *parse.TemplateNode:
			var arg reflect.Type
			if n.Pipe != nil {
				arg = c.pipe(t, n.Pipe, dot, root)
			}
			c.template(n.Name, arg)
		}
	}
}

// pipe checks a pipeline and returns its result type when it is known.
func (c *typeChecker) pipe(t *parse.Tree, p *parse.PipeNode, dot, root reflect.Type) reflect.Type {
	if p == nil {
		return nil
	}
	var result reflect.Type
	for i, cmd := range p.Cmds {
		for j, arg := range cmd.Args {
			r := c.arg(t, arg, dot, root)
			if i == 0 && j == 0 {
				result = r // a value, or a method called with the arguments that follow
			}
		}
	}
	if len(p.Cmds) != 1 {
		return nil // the last command is a function: its result type is not known here
	}
	return result
}

func (c *typeChecker) arg(t *parse.Tree, n parse.Node, dot, root reflect.Type) reflect.Type {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return c.fields(t, n, dot, n.Ident)
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			return c.fields(t, n, root, n.Ident[1:])
		}
		return nil // a variable's type is not tracked
	case *parse.ChainNode:
		var base reflect.Type
		if p, ok := n.Node.(*parse.PipeNode); ok {
			base = c.pipe(t, p, dot, root)
		}
		return c.fields(t, n, base, n.Field)
	case *parse.PipeNode:
		return c.pipe(t, n, dot, root)
	}
	return nil
}

// fields resolves .A.B.C on typ, recording an error for a name typ does not have.
func (c *typeChecker) fields(t *parse.Tree, n parse.Node, typ reflect.Type, idents []string) reflect.Type {
	for _, id := range idents {
		if typ == nil || c.err != nil {
			return nil
		}
		if m, ok := method(typ, id); ok {
			typ = m
			continue
		}
		base := indirect(typ)
		switch base.Kind() {
		case reflect.Interface:
			return nil
		case reflect.Map:
			if base.Key().Kind() != reflect.String {
				return nil
			}
			typ = base.Elem()
			continue
		case reflect.Struct:
			if f, ok := base.FieldByName(id); ok && f.IsExported() {
				typ = f.Type
				continue
			}
		}
		loc, _ := t.ErrorContext(n)
		c.err = fmt.Errorf("%s: %s has no field or method %s", loc, typ, id)
		return nil
	}
	return typ
}

// method returns the first result type of typ's (or *typ's) exported method name.
func method(typ reflect.Type, name string) (reflect.Type, bool) {
	for _, t := range []reflect.Type{typ, reflect.PointerTo(indirect(typ))} {
		if m, ok := t.MethodByName(name); ok && m.IsExported() {
			if m.Type.NumOut() == 0 {
				return nil, true
			}
			return m.Type.Out(0), true
		}
	}
	return nil, false
}

func indirect(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func elemType(t reflect.Type) reflect.Type {
	t = indirect(t)
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Chan:
		return t.Elem()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return t
	}
	return nil
}
