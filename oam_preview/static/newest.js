/* "Only the newest request answers", in one place for the page's kinds of request (the list's
 * query, the footprints, the mosaic, the timeline): starting one aborts the one before, and a
 * response that arrives late asks `isNewest()` before it touches the page.
 */

/** A source of requests of one kind; `start()` begins the next one. */
export function newestRequest() {
  let controller = null;
  return {
    /** Abort the previous request of this kind; this one's `signal` and its `isNewest()` test. */
    start() {
      if (controller) controller.abort();
      const mine = (controller = new AbortController());
      return { signal: mine.signal, isNewest: () => mine === controller };
    },
  };
}
