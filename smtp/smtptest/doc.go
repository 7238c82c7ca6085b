// Package smtptest provides SMTP servers for tests and for local development.
//
// Server is a real in-process SMTP server on 127.0.0.1, built on emersion/go-smtp's server
// package: it offers PIPELINING, CHUNKING, 8BITMIME, SMTPUTF8, SIZE, DSN,
// ENHANCEDSTATUSCODES, STARTTLS on a certificate generated at start, and AUTH PLAIN, LOGIN
// and CRAM-MD5 for configured users; it captures every envelope and message, injects faults
// per command (a reply, a dropped connection, a stall) and can delay its replies to model a
// remote server. It is what the conformance suite, the command line's "postie dev" and
// examples/quickstart talk to.
//
// Scripted is the other server: it plays a Script of exact replies, for tests of a client
// against every reply code and misbehaviour a real server can show.
package smtptest
