import type { FormHTMLAttributes } from "react";

type FormProps = Omit<FormHTMLAttributes<HTMLFormElement>, "onSubmit"> & { onSubmit: () => void };

/** A form the page handles itself: no browser validation and no page load on submit. */
export function Form({ onSubmit, children, ...form }: FormProps) {
  return (
    <form
      noValidate
      {...form}
      onSubmit={(event) => {
        event.preventDefault();
        onSubmit();
      }}
    >
      {children}
    </form>
  );
}
