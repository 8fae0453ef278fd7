// Package datasets reads the public data sets tailor is evaluated on into the
// shapes its API takes (catalog items, user attributes, behavioural events),
// so that they can be loaded through the API or replayed in process.
//
// Readers stream: they call a function per record and keep little in memory.
// The files are read where they are; nothing is copied into the project.
package datasets
