/** The route kit, kept importable here for the handlers that import it by this name; it lives in ./route-kit. */
export * from './route-kit';
