// A Node.js resolve hook: @maplibre/mlt's published ESM imports its own files without the
// `.js` extension (it is written for bundlers); Node needs it. Only relative imports from
// inside node_modules/@maplibre/mlt are completed.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const inMlt = context.parentURL?.includes('/node_modules/@maplibre/mlt/');
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && inMlt && specifier.startsWith('.') && !specifier.endsWith('.js')) {
      return next(`${specifier}.js`, context);
    }
    throw e;
  }
}
