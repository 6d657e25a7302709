// Where the API is: `make dev`'s default. Whoever serves this page for another API serves
// their own config.js in its place (the browser test does).
export const apiUrl = "http://127.0.0.1:9000";
