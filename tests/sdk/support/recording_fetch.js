// A fetch for the SDK providers that remembers what the gateway said about each answer
// (X-Cache, X-Cache-Converted), which the SDK results do not show.
export function recordingFetch() {
  const answers = [];
  const recording = async (url, init) => {
    const response = await fetch(url, init);
    answers.push({
      url: String(url),
      status: response.status,
      cache: response.headers.get('x-cache'),
      converted: response.headers.get('x-cache-converted'),
    });
    return response;
  };
  return {
    fetch: recording,
    // The answers since the last call.
    take: () => answers.splice(0),
  };
}
